"""Errors of the release agent and ``alstream release``."""

from alstream.exceptions import AlstreamError


class ReleaseError(AlstreamError):
    """A release cannot be built, read or compared; the message says which one and why."""


class ReleaseNotFound(ReleaseError):
    """No release with that id under the configured root."""
