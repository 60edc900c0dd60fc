"""One dead letter as the tools show it: where it sits, where it came from, why it failed."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from alstream.streams.codecs import RecordCodec
from alstream.streams.dead_letters import HEADER_PREFIX
from alstream.streams.exceptions import DecodeError
from alstream.streams.messages import AnyHeaders, Headers, coordinates, header_pairs

# Set on a replayed record: which dead letter it came from and when (Kafka Connect keeps its
# error context in ``__connect.errors.*`` headers; these are the replay's equivalent).
REPLAY_PREFIX = "alstream.replay."
REPLAY_OF = REPLAY_PREFIX + "dead-letter"  # "<dead-letter topic>:<partition>:<offset>"
REPLAY_TIME = REPLAY_PREFIX + "time"  # Unix milliseconds
REPLAY_ERROR_CLASS = REPLAY_PREFIX + "error-class"  # why it was dead-lettered


@dataclass(frozen=True)
class DeadLetter:
    """A record of the dead-letter topic. ``record`` is None when the dead letter itself is unreadable."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: Headers = field(repr=False)
    record: dict[str, Any] | None = field(repr=False)
    decode_error: str | None = None

    @property
    def id(self) -> str:
        """``partition:offset`` on the dead-letter topic: what ``--id`` takes."""
        return f"{self.partition}:{self.offset}"

    @property
    def replay_tag(self) -> str:
        """The value of the replay header that marks a record replayed from this dead letter."""
        return f"{self.topic}:{self.partition}:{self.offset}"

    def get(self, name: str, default: Any = None) -> Any:
        return default if self.record is None else self.record.get(name, default)

    @property
    def failed_at(self) -> datetime | None:
        value = self.get("failed_at")
        if isinstance(value, int):
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        return value

    @property
    def truncation(self) -> dict[str, Any] | None:
        """Sizes and digests of an original too large to keep whole (None when kept whole)."""
        value = self.get("truncation")
        return value if isinstance(value, dict) else None

    @property
    def original_headers(self) -> Headers:
        """The failed record's own headers: everything but the error and earlier replay headers."""
        return [
            (name, raw)
            for name, raw in self.headers
            if not name.startswith(HEADER_PREFIX) and not name.startswith(REPLAY_PREFIX)
        ]

    def to_json(self) -> dict[str, Any]:
        """Everything a script needs, JSON-safe: bytes as UTF-8 text when they are, else base64."""
        failed_at = self.failed_at
        value = self.get("original_value")
        return {
            "id": self.id,
            "dead_letter": {"topic": self.topic, "partition": self.partition, "offset": self.offset},
            "failed_at": failed_at.isoformat(timespec="milliseconds") if failed_at else None,
            "agent": self.get("agent"),
            "source_topic": self.get("source_topic"),
            "source_partition": self.get("source_partition"),
            "source_offset": self.get("source_offset"),
            "error_class": self.get("error_class"),
            "error_message": self.get("error_message"),
            "key": _text_or_base64(self.get("original_key", self.key)),
            "value_size": None if value is None else len(value),
            "truncation": self.truncation,
            "headers": {name: _text_or_base64(raw) for name, raw in self.original_headers},
            "decode_error": self.decode_error,
        }


def _text_or_base64(raw: str | bytes | None) -> dict[str, str] | str | None:
    if raw is None or isinstance(raw, str):
        return raw
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(raw).decode()}


class ConsumedRecord(Protocol):
    """What :func:`dead_letter_of` reads of a consumed message (confluent-kafka's, or a test double)."""

    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def headers(self) -> AnyHeaders: ...


def dead_letter_of(message: ConsumedRecord, codec: RecordCodec) -> DeadLetter:
    """Decode one message of the dead-letter topic; an undecodable one is kept with the reason."""
    record: dict[str, Any] | None = None
    problem = None
    try:
        record = codec.decode(message.value())
    except DecodeError as exc:
        problem = f"{type(exc).__name__}: {exc}"
    topic, partition, offset = coordinates(message)
    return DeadLetter(
        topic=topic,
        partition=partition,
        offset=offset,
        key=message.key(),
        headers=header_pairs(message.headers()),
        record=record,
        decode_error=problem,
    )
