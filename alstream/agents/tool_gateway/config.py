"""Settings section ``[tool_gateway]`` (env ``ALSTREAM_TOOL_GATEWAY__*``), owned by the SRE."""

from __future__ import annotations

from pydantic import Field

from alstream.config_base import Section, group_id_field


class ToolGatewaySettings(Section):
    """Tunables of the tool gateway agent (which tools exist is ``[identity] tools``)."""

    group_id: str = group_id_field("alstream-tool-gateway")
    batch_size: int = Field(default=1_000, ge=1, description="Records per batch of the gateway's loop.")
