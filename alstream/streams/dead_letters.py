"""The one dead-letter mechanism every agent and the ingestion producer use.

A rejected record is kept whole (original key and value bytes) on the dead-letter topic with why it
was rejected, both in the Avro value and in headers (for tools that only read headers). As in Kafka
Connect's dead-letter queue, the dead letter also carries the original record's own headers, ahead
of the ``alstream.error.*`` ones, so ``alstream dead-letters replay`` can send the record back as it
was. Nothing bad is dropped silently, and ``alstream_dead_letters_total`` counts it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from alstream.observability.metrics import DEAD_LETTERS
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.messages import AnyHeaders, Headers, header_pairs, header_text

HEADER_PREFIX = "alstream.error."
MAX_MESSAGE_CHARS = 1_000


class Producer(Protocol):
    """What the sink needs of a producer: confluent-kafka's, or the in-memory one in tests."""

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        on_delivery: Callable[..., Any] | None = None,
        headers: Headers | None = None,
    ) -> None: ...


def error_class_of(error: BaseException | str) -> str:
    return error if isinstance(error, str) else type(error).__name__


class DeadLetterSink:
    """Sends rejected records to the dead-letter topic. Thread-compatible with confluent-kafka's Producer."""

    def __init__(
        self, *, producer: Producer, topic: str, agent: str, codec: SingleObjectCodec | None = None
    ) -> None:
        self._producer = producer
        self.topic = topic
        self.agent = agent
        self._codec = codec or SingleObjectCodec("dead-letters")

    def send(
        self,
        *,
        key: bytes | str | None,
        value: bytes | None,
        source_topic: str,
        error: BaseException | str,
        message: str | None = None,
        partition: int = -1,
        offset: int = -1,
        on_delivery: Any | None = None,
        headers: AnyHeaders = None,
    ) -> None:
        """Dead-letter one record. ``error`` is the exception (or an error class name with ``message``);
        ``headers`` are the original record's, kept for replay (``alstream.error.*`` ones it carried
        from an earlier failure are replaced by this failure's)."""
        error_class = error_class_of(error)
        text = (message if message is not None else str(error))[:MAX_MESSAGE_CHARS]
        raw_key = key.encode() if isinstance(key, str) else key
        now_ms = int(time.time() * 1000)
        record = {
            "original_key": raw_key,
            "original_value": value,
            "source_topic": source_topic,
            "source_partition": partition,
            "source_offset": offset,
            "error_class": error_class,
            "error_message": text,
            "agent": self.agent,
            "failed_at": now_ms,
        }
        kept = [(name, raw) for name, raw in header_pairs(headers) if not name.startswith(HEADER_PREFIX)]
        headers_out: Headers = [
            *kept,
            (HEADER_PREFIX + "topic", source_topic.encode()),
            (HEADER_PREFIX + "partition", str(partition).encode()),
            (HEADER_PREFIX + "offset", str(offset).encode()),
            (HEADER_PREFIX + "class", error_class.encode()),
            (HEADER_PREFIX + "message", text.encode()),
            (HEADER_PREFIX + "agent", self.agent.encode()),
            (HEADER_PREFIX + "time", str(now_ms).encode()),
        ]
        if on_delivery is not None:
            self._producer.produce(
                self.topic,
                value=self._codec.encode(record),
                key=raw_key,
                headers=headers_out,
                on_delivery=on_delivery,
            )
        else:
            self._producer.produce(
                self.topic, value=self._codec.encode(record), key=raw_key, headers=headers_out
            )
        DEAD_LETTERS.labels(agent=self.agent, source_topic=source_topic, error_class=error_class).inc()


def error_headers(headers: AnyHeaders) -> dict[str, str]:
    """The ``alstream.error.*`` headers of a dead letter, as a dict without the prefix."""
    return {
        name.removeprefix(HEADER_PREFIX): header_text(raw)
        for name, raw in header_pairs(headers)
        if name.startswith(HEADER_PREFIX)
    }
