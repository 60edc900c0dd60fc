"""Restoring a shard's table from the real broker: checkpoint + the changelog written after it.

On the embedded broker compaction removes nothing, so a changelog holds every write ever made; a restore
must still read only the live state and the tail after the checkpoint (its cost independent of history),
and a checkpoint that does not belong to the topic (a restarted, memory-only broker) must be ignored."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka import Producer

from alstream.agents.router.changelog import STATE_TOPIC, decode_value, encode_value, restore_table
from alstream.agents.router.checkpoint import Checkpointer, ShardCheckpoint
from alstream.settings import AlstreamSettings
from alstream.streams.kafka_config import producer_config

pytestmark = [pytest.mark.broker]
HISTORY = 20_000
PARTITION = 1


def write(settings: AlstreamSettings, records: list[tuple[str, object]], checkpointer: Checkpointer) -> None:
    """Produce table writes to the shard's changelog partition, as the router does (the checkpointer
    hears of each acknowledged one)."""
    producer = Producer(producer_config(settings))

    def delivered(err: object, message: object) -> None:
        assert err is None
        checkpointer.add(message.key(), message.value())  # type: ignore[attr-defined]
        checkpointer.offset = message.offset() + 1  # type: ignore[attr-defined]

    topic = settings.kafka.topic(STATE_TOPIC)
    for key, value in records:
        producer.produce(topic, encode_value(value), key.encode(), partition=PARTITION, on_delivery=delivered)
    assert producer.flush(30) == 0


def test_restore_reads_the_checkpoint_and_only_the_tail(topics: AlstreamSettings, tmp_path: Path) -> None:
    settings = topics
    checkpoint = ShardCheckpoint(tmp_path / "shard-1.sqlite")
    writer = Checkpointer(checkpoint)
    # History: one annotator record rewritten HISTORY times, a candidate pooled then assigned away.
    history: list[tuple[str, object]] = [
        (f"a|{PARTITION}|ann", [PARTITION, {"n": n}]) for n in range(HISTORY)
    ]
    history += [(f"c|{PARTITION}|gone", [PARTITION, ["x"]]), (f"c|{PARTITION}|gone", None)]
    write(settings, history, writer)
    writer.flush(wait=True)
    tail: list[tuple[str, object]] = [(f"c|{PARTITION}|i{n}", [PARTITION, [n]]) for n in range(5)]
    write(settings, tail, Checkpointer(ShardCheckpoint(tmp_path / "elsewhere.sqlite")))

    reader = Checkpointer(ShardCheckpoint(tmp_path / "shard-1.sqlite"))  # a restarted worker's
    restored = restore_table(
        settings=settings,
        topic=settings.kafka.topic(STATE_TOPIC),
        partition=PARTITION,
        checkpointer=reader,
        agent="test",
    )
    assert not restored.checkpoint_ignored
    assert restored.tail == len(tail)  # not HISTORY + 7: the history is in the checkpoint, once
    assert restored.from_checkpoint == 1
    assert restored.end == HISTORY + 2 + len(tail)
    table = dict(restored.decoded())
    assert table[f"a|{PARTITION}|ann"] == [PARTITION, {"n": HISTORY - 1}]
    assert f"c|{PARTITION}|gone" not in table
    assert {key for key in table if key.startswith("c|")} == {f"c|{PARTITION}|i{n}" for n in range(5)}
    # The tail joins the checkpoint at the next write: the restore after that reads no tail at all.
    assert reader.flush(wait=True)
    again = restore_table(
        settings=settings,
        topic=settings.kafka.topic(STATE_TOPIC),
        partition=PARTITION,
        checkpointer=Checkpointer(ShardCheckpoint(tmp_path / "shard-1.sqlite")),
        agent="test",
    )
    assert again.tail == 0
    assert dict(again.decoded()) == table


def test_a_checkpoint_of_another_changelog_is_ignored(topics: AlstreamSettings, tmp_path: Path) -> None:
    settings = topics
    stale = ShardCheckpoint(tmp_path / "shard-1.sqlite")
    # A checkpoint from a broker that was restarted: it claims 2 records and names a record not there.
    stale.write(
        {f"c|{PARTITION}|ghost".encode(): encode_value([PARTITION, ["ghost"]]) or b""},
        offset=2,
        fingerprint="x",
    )
    write(
        settings,
        [(f"c|{PARTITION}|real", [PARTITION, ["real"]])] * 3,
        Checkpointer(ShardCheckpoint(tmp_path / "o.sqlite")),
    )
    restored = restore_table(
        settings=settings,
        topic=settings.kafka.topic(STATE_TOPIC),
        partition=PARTITION,
        checkpointer=Checkpointer(stale),
        agent="test",
    )
    assert restored.checkpoint_ignored
    assert {key: decode_value(value) for key, value in restored.records.items()} == {
        f"c|{PARTITION}|real".encode(): [PARTITION, ["real"]]
    }
