"""Which annotation tool may act for which annotator, and the per-tool topics that make it enforceable.

Why per-tool topics: a Kafka record does not carry the principal that produced it, so the labels topic
cannot tell an impostor's label from the real annotator's. Each annotation tool (one Kafka principal,
``User:<tool>``) instead gets its own three topics, and the ACLs (``alstream acl``) let only that
principal write its intake topics and read its delivery topic:

* ``P tool.<tool>.labels`` and ``P tool.<tool>.annotator-events``: what the tool sends (intake);
* ``P tool.<tool>.assignments``: the work of the annotators bound to the tool, without ``kind``.

The tool gateway agent (:mod:`alstream.agents.tool_gateway`) knows the principal from the topic a record
came in on, forwards a record only when its ``annotator_id`` is bound to that tool here, and is the only
client (with the router's own heartbeat) that writes the shared ``labels`` and ``annotator-events``
topics. The binding lives in configuration (``[identity] tools``), as the ACLs do.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from alstream.config_base import Section
from alstream.contracts.ids import RESERVED_PREFIX
from alstream.exceptions import ConfigError
from alstream.streams.topics import CATALOGUE, TopicSpec, spec

INTAKE_TOPICS = ("labels", "annotator-events")  # what a tool sends; forwarded to the shared topics
DELIVERY_TOPIC = "assignments"  # what a tool reads: its annotators' work, without the kind
DELIVERY_SCHEMA = "tool-assignments"  # the assignment contract minus ``kind`` (schemas/tool-assignments.avsc)
_TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


class IdentitySettings(Section):
    """``[identity]``: the annotation tools (Kafka principals) and the annotators each may act for."""

    tools: dict[str, list[str]] = Field(
        default_factory=dict,
        description=(
            "Tool name (its Kafka principal is User:<name>) -> the annotator ids it may act for; an id "
            'ending in "*" binds every annotator id with that prefix. Empty: tools write the shared '
            "topics directly (the embedded broker without SASL only; see docs/security.md)."
        ),
    )
    tool: str | None = Field(
        default=None,
        description=(
            "Which tool this process is (the SDK, `alstream annotate`, the Label Studio bridge); "
            "defaults to kafka.sasl_username, the principal the broker authenticated."
        ),
    )

    @field_validator("tools")
    @classmethod
    def _valid_tools(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, annotators in value.items():
            if not _TOOL_NAME.match(name):
                raise ValueError(f"tool name {name!r} may only hold letters, digits, '_' and '-' (1-100)")
            for pattern in annotators:
                stem = pattern.removesuffix("*")
                if not stem and pattern != "*":
                    raise ValueError(f"tool {name!r}: empty annotator id")
                if stem.startswith(RESERVED_PREFIX):
                    raise ValueError(
                        f"tool {name!r}: annotator ids starting with {RESERVED_PREFIX!r} are reserved"
                    )
                if "*" in stem:
                    raise ValueError(f"tool {name!r}: '*' may only end an annotator pattern ({pattern!r})")
        return value

    @property
    def enforced(self) -> bool:
        """Whether tools go through their own topics and the gateway (any tool is configured)."""
        return bool(self.tools)

    def tools_for(self, annotator_id: str) -> list[str]:
        """The tools bound to ``annotator_id`` (sorted); a reserved id is bound to none."""
        if annotator_id.startswith(RESERVED_PREFIX):
            return []
        return sorted(
            name
            for name, patterns in self.tools.items()
            if any(_matches(pattern, annotator_id) for pattern in patterns)
        )

    def may_act_for(self, tool: str, annotator_id: str) -> bool:
        return tool in self.tools_for(annotator_id)


def _matches(pattern: str, annotator_id: str) -> bool:
    if pattern.endswith("*"):
        return annotator_id.startswith(pattern[:-1])
    return annotator_id == pattern


def tool_topic(topic_prefix: str, tool: str, base: str) -> str:
    """``P tool.<tool>.<base>``: one of a tool's own topics."""
    return f"{topic_prefix}tool.{tool}.{base}"


def parse_tool_topic(topic_prefix: str, topic: str) -> tuple[str, str] | None:
    """(tool, base) of a tool topic name, or None for any other topic."""
    head = f"{topic_prefix}tool."
    if not topic.startswith(head):
        return None
    tool, _, base = topic[len(head) :].partition(".")
    if not tool or base not in (*INTAKE_TOPICS, DELIVERY_TOPIC):
        return None
    return tool, base


def this_tool(identity: IdentitySettings, sasl_username: str | None) -> str:
    """The tool this process is, or a :class:`ConfigError` saying what to set."""
    name = identity.tool or sasl_username
    if not name:
        raise ConfigError(
            "[identity] tools is set, so this annotation tool must say which tool it is: set "
            "ALSTREAM_IDENTITY__TOOL (or ALSTREAM_KAFKA__SASL_USERNAME, the principal it logs in as)"
        )
    if name not in identity.tools:
        raise ConfigError(
            f"tool {name!r} is not in [identity] tools ({', '.join(sorted(identity.tools))}): add it with "
            "the annotators it may act for"
        )
    return name


def tool_topic_specs(identity: IdentitySettings) -> tuple[TopicSpec, ...]:
    """The catalogue entries of every configured tool's topics: each with the partition count, retention
    and key of the shared topic it feeds or mirrors, so a record keeps its partition through the gateway."""
    out: list[TopicSpec] = []
    for tool in sorted(identity.tools):
        for base in (*INTAKE_TOPICS, DELIVERY_TOPIC):
            shared = spec(base)
            out.append(
                TopicSpec(
                    f"tool.{tool}.{base}",
                    shared.key,
                    shared.partitions,
                    shared.cleanup_policy,
                    shared.retention_ms,
                    f"tool {tool}: "
                    + (
                        "its annotators' work, without kind" if base == DELIVERY_TOPIC else f"{base} it sends"
                    ),
                )
            )
    return tuple(out)


def deployment_topics(identity: IdentitySettings) -> tuple[TopicSpec, ...]:
    """The catalogue plus the configured tools' topics: what `alstream topics create` creates."""
    return CATALOGUE + tool_topic_specs(identity)
