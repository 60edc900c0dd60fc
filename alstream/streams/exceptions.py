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


class RetryLater(StreamsError):
    """Processing failed for a reason outside the records: the broker, a disk, another service.

    The agent runtime processes the same records again, with backoff and without limit, and never
    dead-letters a record for it. Raise it (or a subclass) from a processor for such failures; any
    other exception counts against the record (see :mod:`alstream.streams.runtime`).
    """


class DeliveryFailed(RetryLater):
    """Some output of a batch was not acknowledged by the broker."""


class ClusterAccessError(StreamsError):
    """The cluster could not be used; the message says why and which setting to check."""


class AuthenticationFailed(ClusterAccessError):
    """SASL login refused: wrong user, password or mechanism."""


class TransportSecurityFailed(ClusterAccessError):
    """TLS handshake failed: untrusted certificate, wrong CA file, or TLS spoken to a plaintext port."""


class ClusterUnreachable(ClusterAccessError):
    """No broker answered in time (down, paused, a wrong address), or the listener wants SASL/TLS."""


class SecurityProtocolMismatch(ClusterUnreachable):
    """The listener drops connections before answering: it speaks SASL or TLS and we do not (or the
    other way round). Waiting cannot fix it."""


class Interrupted(StreamsError):
    """The stop flag was set while waiting for the cluster or reading a topic: stop, nothing is wrong."""
