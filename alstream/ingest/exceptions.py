"""Errors of the ingestion SDK and CLI."""

from alstream.exceptions import AlstreamError


class IngestError(AlstreamError):
    """Base class for ingestion errors."""


class InputFileError(IngestError):
    """An input file cannot be read at all (missing, unknown format, bad header). Per-record problems
    are never raised: they become rejections with a line number and a reason."""


class TopicUnavailable(IngestError):
    """The cluster did not answer, or has no items topic, when asked before sending."""
