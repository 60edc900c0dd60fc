"""Errors of the dead-letter tools."""

from __future__ import annotations

from alstream.exceptions import AlstreamError, ConfigError


class DeadLetterError(AlstreamError):
    """The dead-letter topic could not be read, or a replay could not be sent."""


class BadFilter(ConfigError):
    """A filter option cannot be read (a time, an id); the message says the accepted forms."""
