"""Why the tool gateway refuses a record; the class name is the dead letter's ``alstream.error.class``."""

from __future__ import annotations

from alstream.exceptions import AlstreamError


class ToolGatewayError(AlstreamError):
    """Root of the tool gateway's errors."""


class ImpostorAnnotator(ToolGatewayError):
    """A tool sent a label or event for an annotator that is not bound to it in ``[identity] tools``."""


class LabelIdReused(ToolGatewayError):
    """A label reuses the ``label_id`` of an earlier label with different content: the first one stands."""


class IntakeMismatch(ToolGatewayError):
    """A record on a tool's intake topic that is not what that topic carries (wrong key, no value)."""
