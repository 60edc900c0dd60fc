"""Errors raised by the Kafka plumbing. Decode errors name what was wrong with the bytes."""

from alstream.exceptions import AlstreamError


class StreamsError(AlstreamError):
    """Base class for errors of the streams package."""


class SchemaCatalogError(StreamsError):
    """The schema folder is missing, unreadable, or two files disagree."""


class DecodeError(StreamsError):
    """A record's bytes could not be turned into a record. Such records go to dead letters."""


class TruncatedRecord(DecodeError):
    """The bytes end before the header or the body is complete."""


class WrongMagic(DecodeError):
    """The bytes do not start with the expected wire-format marker."""


class UnknownSchema(DecodeError):
    """The writer schema's fingerprint or registry id is not known to this reader."""


class SchemaMismatch(DecodeError):
    """The writer schema cannot be read as the reader schema, or the body does not match it."""


class EncodeError(StreamsError):
    """A record does not fit its schema (missing field, wrong type)."""


class BrokerError(StreamsError):
    """The embedded broker could not start, or a cluster operation failed."""
