"""The router's state topic (``router-state``): partition *p* is the changelog of shard *p*'s table.

Records are the table writes :mod:`.state` returns, in the order it returns them: key = the table key
(UTF-8), value = the value in MessagePack, a tombstone (null value) for a delete. MessagePack rather than
JSON: a restore decodes every live record (a million pooled candidates), and MessagePack decodes them
about ten times faster. The topic is compacted,
so on a compacting broker it holds the live state; :mod:`.checkpoint` bounds restore where it does not.

:func:`restore_table` rebuilds a shard's table from its checkpoint and the changelog records after it,
reading the partition to its true end (:class:`~alstream.streams.reading.TopicTail`: a partition is read
to its end only once a fetch reported its end, which the embedded broker's ListOffsets under-reports).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgpack  # type: ignore[import-untyped]  # ships no type information
from confluent_kafka import OFFSET_BEGINNING, Message

from alstream.agents.router.checkpoint import Checkpointer, fingerprint
from alstream.streams.config import KafkaSource
from alstream.streams.messages import coordinates
from alstream.streams.reading import TopicTail

log = logging.getLogger(__name__)

STATE_TOPIC = "router-state"


def encode_value(value: Any) -> bytes | None:
    return None if value is None else msgpack.packb(value)


def decode_value(raw: bytes) -> Any:
    return msgpack.unpackb(raw)


@dataclass
class RestoredTable:
    """A shard's table as key -> changelog value bytes, and how it was found."""

    records: dict[bytes, bytes] = field(default_factory=dict)
    end: int = 0  # the changelog offset after the last record read (where the next write lands)
    from_checkpoint: int = 0  # records the checkpoint gave
    tail: int = 0  # changelog records read after it
    checkpoint_ignored: bool = False  # the checkpoint did not match the changelog
    seconds: float = 0.0

    def decoded(self) -> Iterator[tuple[str, Any]]:
        for key, value in self.records.items():
            yield key.decode(), decode_value(value)


def restore_table(
    *,
    settings: KafkaSource,
    topic: str,
    partition: int,
    checkpointer: Checkpointer,
    agent: str,
    stop: Callable[[], bool] | None = None,
) -> RestoredTable:
    """The shard's table: its checkpoint, then every changelog record after it, to the partition's end.

    The checkpointer is left holding what the tail added (its next write brings the file up to date)."""
    started = time.monotonic()
    restored = RestoredTable()
    covered, mark = checkpointer.checkpoint.covered()
    if covered > 0:
        restored.records = dict(checkpointer.checkpoint.records())
        restored.from_checkpoint = len(restored.records)
    start = covered - 1 if covered > 0 else OFFSET_BEGINNING
    first: list[Message] = []
    changes: dict[bytes, bytes | None] = {}
    last: list[tuple[bytes, bytes | None]] = []
    read = [0]

    def apply(messages: list[Message]) -> None:
        for message in messages:
            if covered > 0 and not first:
                first.append(message)  # the record just before the checkpoint's offset: checked, not applied
                continue
            key, value = message.key() or b"", message.value()
            changes[key] = value
            read[0] += 1
            restored.end = coordinates(message)[2] + 1
            last[:] = [(key, value)]

    tail = TopicTail(settings=settings, start={(topic, partition): start}, agent=agent, stop=stop)
    try:
        tail.catch_up(apply)
    finally:
        tail.close()
    if covered > 0:
        anchor = first[0] if first else None
        if (
            anchor is None
            or coordinates(anchor)[2] != covered - 1
            or fingerprint(anchor.key() or b"", anchor.value()) != mark
        ):
            log.warning(
                "router shard %d: its checkpoint (offset %d) does not match %s; reading the whole changelog",
                partition,
                covered,
                topic,
            )
            checkpointer.checkpoint.reset()
            fresh = Checkpointer(checkpointer.checkpoint)
            again = restore_table(
                settings=settings,
                topic=topic,
                partition=partition,
                checkpointer=fresh,
                agent=agent,
                stop=stop,
            )
            checkpointer.pending, checkpointer.offset = fresh.pending, fresh.offset
            checkpointer.last_record = fresh.last_record
            again.checkpoint_ignored = True
            return again
        if not last:
            restored.end = covered
            last[:] = [(anchor.key() or b"", anchor.value())]
    for key, value in changes.items():
        if value is None:
            restored.records.pop(key, None)
        else:
            restored.records[key] = value
        checkpointer.pending[key] = value
    restored.tail = read[0]
    checkpointer.offset = restored.end
    checkpointer.last_record = last[0] if last else None
    restored.seconds = time.monotonic() - started
    return restored
