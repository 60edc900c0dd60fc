"""In-memory stand-ins for the Kafka clients, for unit tests of agents' processing without a broker.

Shipped next to the real connectors (as bytewax does) so every agent can be tested the same way.
They mimic the parts of confluent-kafka's ``Producer`` / ``Message`` that agents use.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from alstream.streams.messages import Headers
from alstream.streams.partitioning import partition_for


@dataclass
class InMemoryMessage:
    """Quacks like ``confluent_kafka.Message``."""

    _topic: str
    _value: bytes | None
    _key: bytes | None = None
    _partition: int = 0
    _offset: int = 0
    _headers: Headers | None = None
    _timestamp_ms: int = 0
    _error: Any = None

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def headers(self) -> Headers | None:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return (1, self._timestamp_ms)

    def error(self) -> Any:
        return self._error


@dataclass
class InMemoryProducer:
    """Quacks like ``confluent_kafka.Producer``: records what was produced, per topic, in order."""

    partitions: int = 1
    topics: dict[str, list[InMemoryMessage]] = field(default_factory=lambda: defaultdict(list))
    _pending: list[tuple[Callable[..., Any], InMemoryMessage]] = field(default_factory=list)

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | str | None = None,
        partition: int = -1,
        on_delivery: Callable[..., Any] | None = None,
        headers: Headers | None = None,
        **_: Any,
    ) -> None:
        raw_key = key.encode() if isinstance(key, str) else key
        if partition < 0:
            partition = partition_for(raw_key, self.partitions) if raw_key is not None else 0
        log = self.topics[topic]
        message = InMemoryMessage(topic, value, raw_key, partition, len(log), headers)
        log.append(message)
        if on_delivery is not None:
            self._pending.append((on_delivery, message))

    def poll(self, timeout: float = 0) -> int:
        pending, self._pending = self._pending, []
        for callback, message in pending:
            callback(None, message)
        return len(pending)

    def flush(self, timeout: float = 0) -> int:
        self.poll()
        return 0

    def __len__(self) -> int:
        return len(self._pending)

    def values(self, topic: str) -> list[bytes | None]:
        return [m.value() for m in self.topics[topic]]
