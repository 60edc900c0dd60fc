"""The one dead-letter mechanism every agent and the ingestion producer use.

A rejected record is kept (original key and value bytes) on the dead-letter topic with why it was
rejected, both in the Avro value and in headers (for tools that only read headers). As in Kafka
Connect's dead-letter queue, the dead letter also carries the original record's own headers, ahead
of the ``alstream.error.*`` ones, so ``alstream dead-letters replay`` can send the record back as it
was. Nothing bad is dropped silently, and ``alstream_dead_letters_total`` counts it.

A dead letter always fits: when the original plus the error does not fit within the producer's
record limit (``kafka.max_message_bytes``), the dead letter carries prefixes of the key and value,
their sizes and SHA-256 digests (``truncation``), and the coordinates to fetch the whole original;
of the original headers it keeps those that fit in a quarter of the limit. Replay refuses such a
dead letter.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from alstream.observability.metrics import DEAD_LETTERS
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.config import KAFKA_DEFAULT_MAX_MESSAGE_BYTES, HasKafka
from alstream.streams.messages import (
    AnyHeaders,
    ConsumedMessage,
    Headers,
    coordinates,
    header_pairs,
    header_text,
)

HEADER_PREFIX = "alstream.error."
MAX_MESSAGE_CHARS = 1_000
# Room for the record batch and protocol framing around one record (a few hundred bytes at most).
FRAMING_BYTES = 4 * 1024
# A truncated dead letter keeps at most this much of the original key (it is also the dead letter's key).
MAX_KEY_PREFIX = 4 * 1024


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

    def poll(self, timeout: float = ...) -> int: ...


class DeadLetterSource(ConsumedMessage, Protocol):
    """A consumed record as the sink reads it (confluent-kafka's Message, or the in-memory one)."""

    def key(self) -> str | bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> AnyHeaders: ...


def error_class_of(error: BaseException | str) -> str:
    return error if isinstance(error, str) else type(error).__name__


def _digest(raw: bytes | None) -> tuple[int, str | None]:
    return (-1, None) if raw is None else (len(raw), hashlib.sha256(raw).hexdigest())


class DeadLetterSink:
    """Sends rejected records to the dead-letter topic. Thread-compatible with confluent-kafka's Producer.

    ``max_bytes`` is the largest record the producer may send (its ``message.max.bytes``); every dead
    letter this sink writes fits within it.
    """

    def __init__(
        self,
        *,
        producer: Producer,
        topic: str,
        agent: str,
        codec: SingleObjectCodec | None = None,
        max_bytes: int = KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self._producer = producer
        self.topic = topic
        self.agent = agent
        self._codec = codec or SingleObjectCodec("dead-letters")
        self.max_bytes = max_bytes

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
        error_class = error_class_of(error)[:200]
        text = (message if message is not None else str(error))[:MAX_MESSAGE_CHARS]
        raw_key = key.encode() if isinstance(key, str) else key
        now_ms = int(time.time() * 1000)
        error_headers_out: Headers = [
            (HEADER_PREFIX + "topic", source_topic.encode()),
            (HEADER_PREFIX + "partition", str(partition).encode()),
            (HEADER_PREFIX + "offset", str(offset).encode()),
            (HEADER_PREFIX + "class", error_class.encode()),
            (HEADER_PREFIX + "message", text.encode()),
            (HEADER_PREFIX + "agent", self.agent.encode()),
            (HEADER_PREFIX + "time", str(now_ms).encode()),
        ]
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
            "truncation": None,
        }
        kept = [(name, raw) for name, raw in header_pairs(headers) if not name.startswith(HEADER_PREFIX)]
        encoded, out_key, kept = self._fitting(record, raw_key, value, kept, error_headers_out)
        kwargs: dict[str, Any] = {"headers": [*kept, *error_headers_out]}
        if on_delivery is not None:
            kwargs["on_delivery"] = on_delivery
        while True:
            try:
                self._producer.produce(self.topic, value=encoded, key=out_key, **kwargs)
                break
            except BufferError:  # local queue full: serve delivery reports, then retry (back-pressure)
                self._producer.poll(0.1)
        DEAD_LETTERS.labels(agent=self.agent, source_topic=source_topic, error_class=error_class).inc()

    def send_message(
        self,
        message: DeadLetterSource,
        error: BaseException | str,
        text: str | None = None,
        *,
        on_delivery: Any | None = None,
    ) -> None:
        """Dead-letter a consumed record with its own headers (anything shaped like
        ``confluent_kafka.Message``)."""
        topic, partition, offset = coordinates(message)
        self.send(
            key=message.key(),
            value=message.value(),
            source_topic=topic,
            partition=partition,
            offset=offset,
            error=error,
            message=text,
            on_delivery=on_delivery,
            headers=message.headers(),
        )

    def _fitting(
        self,
        record: dict[str, Any],
        key: bytes | None,
        value: bytes | None,
        kept: Headers,
        error_headers_out: Headers,
    ) -> tuple[bytes, bytes | None, Headers]:
        """The encoded dead letter, its Kafka key and the original headers it keeps, cut to fit within
        ``max_bytes``."""
        budget = self.max_bytes - FRAMING_BYTES - _headers_size(error_headers_out)
        encoded = self._codec.encode(record)
        if len(encoded) + len(key or b"") + _headers_size(kept) <= budget:
            return encoded, key, kept
        # Too large: keep what of the original headers fits in a quarter of the room (they are
        # context; the original is at its coordinates), and prefixes of the key and value.
        kept = _headers_within(kept, budget // 4)
        budget -= _headers_size(kept)
        key_size, key_sha = _digest(key)
        value_size, value_sha = _digest(value)
        key_prefix = None if key is None else key[:MAX_KEY_PREFIX]
        record["truncation"] = {
            "key_size": key_size,
            "key_sha256": key_sha,
            "value_size": value_size,
            "value_sha256": value_sha,
        }
        record["original_key"] = key_prefix
        record["original_value"] = b"" if value is not None else None
        fixed = len(self._codec.encode(record)) + len(key_prefix or b"")  # the prefix is the Kafka key too
        room = max(0, budget - fixed - 8)  # 8: the value's longer length prefix
        if value is not None:
            record["original_value"] = value[:room]
        return self._codec.encode(record), key_prefix, kept


def _header_bytes(raw: str | bytes | None) -> int:
    return len(raw.encode()) if isinstance(raw, str) else len(raw or b"")


def _headers_size(headers: Headers) -> int:
    return sum(len(name.encode()) + _header_bytes(raw) for name, raw in headers)


def _headers_within(headers: Headers, limit: int) -> Headers:
    """The leading ``headers`` whose total size stays within ``limit`` bytes."""
    kept: Headers = []
    used = 0
    for name, raw in headers:
        used += len(name.encode()) + _header_bytes(raw)
        if used > limit:
            break
        kept.append((name, raw))
    return kept


def error_headers(headers: AnyHeaders) -> dict[str, str]:
    """The ``alstream.error.*`` headers of a dead letter, as a dict without the prefix."""
    return {
        name.removeprefix(HEADER_PREFIX): header_text(raw)
        for name, raw in header_pairs(headers)
        if name.startswith(HEADER_PREFIX)
    }


def dead_lettered(
    settings: HasKafka,
    *,
    agent: str,
    source_topics: Sequence[str],
    patience_s: float | None = None,
    stop: Callable[[], bool] | None = None,
) -> dict[str, set[tuple[int, int]]]:
    """source topic -> (partition, offset) of every record of it that ``agent`` dead-lettered (read
    from the headers, no decoding), so a restarted agent knows which records it already decided."""
    from alstream.streams.reading import read_to_end

    found: dict[str, set[tuple[int, int]]] = {topic: set() for topic in source_topics}

    def collect(messages: list[Any]) -> None:
        for message in messages:
            headers = error_headers(message.headers())
            if headers.get("agent") != agent or headers.get("topic") not in found:
                continue
            try:
                found[headers["topic"]].add((int(headers["partition"]), int(headers["offset"])))
            except (KeyError, ValueError):
                continue

    read_to_end(
        settings,
        [settings.kafka.topic("dead-letters")],
        collect,
        agent=agent,
        patience_s=patience_s,
        stop=stop,
    )
    return found


def dead_lettered_offsets(
    settings: HasKafka, *, agent: str, source_topic: str, patience_s: float | None = None
) -> set[tuple[int, int]]:
    """(partition, offset) of every ``source_topic`` record ``agent`` dead-lettered."""
    return dead_lettered(settings, agent=agent, source_topics=[source_topic], patience_s=patience_s)[
        source_topic
    ]
