"""Errors of the agreement package."""

from alstream.exceptions import AlstreamError


class AgreementError(AlstreamError):
    """Base class for errors of the agreement package."""
