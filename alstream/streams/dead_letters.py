"""The one dead-letter mechanism every agent and the ingestion producer use.

A rejected record is kept (original key and value bytes) on the dead-letter topic with why it was
rejected, both in the Avro value and in headers (for tools that only read headers). Nothing bad is
dropped silently, and ``alstream_dead_letters_total`` counts it.

A dead letter always fits: when the original plus the error does not fit within the producer's
record limit (``kafka.max_message_bytes``), the dead letter carries prefixes of the key and value,
their sizes and SHA-256 digests (``truncation``), and the coordinates to fetch the whole original.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import Any

from alstream.observability.metrics import DEAD_LETTERS
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.config import KAFKA_DEFAULT_MAX_MESSAGE_BYTES, HasKafka

HEADER_PREFIX = "alstream.error."
MAX_MESSAGE_CHARS = 1_000
# Room for the record batch and protocol framing around one record (a few hundred bytes at most).
FRAMING_BYTES = 4 * 1024
# A truncated dead letter keeps at most this much of the original key (it is also the dead letter's key).
MAX_KEY_PREFIX = 4 * 1024


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
        producer: Any,  # confluent_kafka.Producer, or an in-memory one with its produce / poll
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
    ) -> None:
        """Dead-letter one record. ``error`` is the exception (or an error class name with ``message``)."""
        error_class = error_class_of(error)[:200]
        text = (message if message is not None else str(error))[:MAX_MESSAGE_CHARS]
        raw_key = key.encode() if isinstance(key, str) else key
        now_ms = int(time.time() * 1000)
        headers = [
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
        encoded, out_key = self._fitting(record, raw_key, value, headers)
        kwargs: dict[str, Any] = {"headers": headers}
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
        message: Any,
        error: BaseException | str,
        text: str | None = None,
        *,
        on_delivery: Any | None = None,
    ) -> None:
        """Dead-letter a consumed record (anything shaped like ``confluent_kafka.Message``)."""
        self.send(
            key=message.key(),
            value=message.value(),
            source_topic=message.topic(),
            partition=message.partition(),
            offset=message.offset(),
            error=error,
            message=text,
            on_delivery=on_delivery,
        )

    def _fitting(
        self,
        record: dict[str, Any],
        key: bytes | None,
        value: bytes | None,
        headers: list[tuple[str, bytes]],
    ) -> tuple[bytes, bytes | None]:
        """The encoded dead letter and its Kafka key, cut to fit within ``max_bytes``."""
        budget = self.max_bytes - FRAMING_BYTES - sum(len(name) + len(raw) for name, raw in headers)
        encoded = self._codec.encode(record)
        if len(encoded) + len(key or b"") <= budget:
            return encoded, key
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
        return self._codec.encode(record), key_prefix


def error_headers(headers: list[tuple[str, bytes]] | None) -> dict[str, str]:
    """The ``alstream.error.*`` headers of a dead letter, as a dict without the prefix."""
    return {
        name.removeprefix(HEADER_PREFIX): (raw or b"").decode(errors="replace")
        for name, raw in headers or []
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
