"""The shape of Kafka records as our code reads and writes them.

confluent-kafka types a message's topic, partition and offset as optional, because a ``Message``
built by hand may lack them; one a consumer returned always carries all three. Reading them through
:func:`coordinates` keeps that fact in one place instead of an ``assert`` at every call site.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

#: Kafka record headers, as confluent-kafka's Producer takes them and its Message returns them.
Headers = list[tuple[str, str | bytes | None]]
#: Headers as any client hands them over (confluent-kafka's stubs allow a mapping too).
AnyHeaders = Sequence[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None] | None


def header_pairs(headers: AnyHeaders) -> Headers:
    """``headers`` as a list of (name, value) pairs, in order; empty for None."""
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return list(headers.items())
    return list(headers)


class ConsumedMessage(Protocol):
    """What we read of a consumed record (confluent-kafka's Message, or the in-memory one)."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...


def coordinates(message: ConsumedMessage) -> tuple[str, int, int]:
    """(topic, partition, offset) of a message a consumer returned."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    if topic is None or partition is None or offset is None:
        raise ValueError(f"message has no coordinates ({topic}, {partition}, {offset}): it was not consumed")
    return topic, partition, offset


def header_text(raw: str | bytes | None) -> str:
    """A header value as text; undecodable bytes are replaced, not raised on (headers come from anyone)."""
    if isinstance(raw, bytes):
        return raw.decode(errors="replace")
    return raw or ""
