"""The end of a partition is where a reader finds it, even when ListOffsets under-reports it.

Tansu 0.6.0 answers ListOffsets(latest) with the last batch's base offset + 1; a reader that trusts that
answer (faust's table recovery does, unpatched) stops early. On a correct broker both answers agree and
the tests still hold.
Every "read to the end" goes through :mod:`alstream.streams.reading`, tested here.
"""

from __future__ import annotations

import asyncio

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from alstream.settings import AlstreamSettings
from alstream.streams.kafka_config import admin_config, consumer_config, producer_config
from alstream.streams.reading import TopicTail, end_offsets, read_to_end, true_end_offsets
from alstream.streams.replay import committed_offsets, replay_committed

pytestmark = pytest.mark.broker


def _batched_topic(settings: AlstreamSettings) -> str:
    """A two-partition topic: 10 records and then 1 into partition 0, nothing in partition 1."""
    topic = _topic(settings, "ends", 2)
    producer = Producer(producer_config(settings, **{"linger.ms": 200}))  # one batch of many records
    for _ in range(10):
        producer.produce(topic, value=b"x", partition=0)
    producer.produce(topic, value=b"y", partition=0)
    assert producer.flush(30) == 0
    return topic


def _topic(settings: AlstreamSettings, name: str, partitions: int) -> str:
    topic = settings.kafka.topic(name)
    admin = AdminClient(admin_config(settings))
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(timeout=30)
    return topic


def test_end_is_past_every_record_of_a_batched_produce(settings: AlstreamSettings, group_id: str) -> None:
    topic = _batched_topic(settings)
    probe = Consumer(consumer_config(settings, group_id=group_id))
    try:
        listed = {
            (topic, p): probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in (0, 1)
        }
    finally:
        probe.close()
    ends = true_end_offsets(settings, listed)

    assert ends == {(topic, 0): 11, (topic, 1): 0}, f"ListOffsets said {listed}"
    # what the operator's commands call: the listing and the read in one
    assert end_offsets(settings, [(topic, 0), (topic, 1)]) == ends


def test_no_partitions_asked_no_partitions_answered(settings: AlstreamSettings) -> None:
    assert true_end_offsets(settings, {}) == {}
    assert end_offsets(settings, []) == {}


def test_faust_recovery_reads_to_the_end_a_reader_finds(settings: AlstreamSettings) -> None:
    """faust's table recovery asks aiokafka's ``end_offsets`` how far to read a changelog."""
    import aiokafka

    from alstream.streams.faust_support import _patch_aiokafka

    topic = _batched_topic(settings)
    _patch_aiokafka(settings.kafka)  # what make_app does for every faust agent

    async def ends() -> dict[tuple[str, int], int]:
        consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers=settings.kafka.require_bootstrap())
        await consumer.start()
        try:
            found = await consumer.end_offsets([aiokafka.TopicPartition(topic, p) for p in (0, 1)])
        finally:
            await consumer.stop()
        return {(tp.topic, tp.partition): offset for tp, offset in found.items()}

    assert asyncio.run(ends()) == {(topic, 0): 11, (topic, 1): 0}


def test_read_to_end_hands_over_every_record_of_a_batched_produce(settings: AlstreamSettings) -> None:
    topic = _batched_topic(settings)
    seen: list[tuple[int, int]] = []
    count = read_to_end(
        settings, [topic], lambda batch: seen.extend((m.partition(), m.offset()) for m in batch)
    )
    assert count == 11
    assert sorted(seen) == [(0, offset) for offset in range(11)]


def test_a_tail_is_caught_up_only_at_the_end_it_finds(settings: AlstreamSettings) -> None:
    topic = _batched_topic(settings)
    tail = TopicTail(settings=settings, topics=[topic])
    try:
        assert not tail.caught_up()
        assert tail.catch_up() == 11
        assert tail.caught_up()
        producer = Producer(producer_config(settings))
        producer.produce(topic, value=b"z", partition=1)
        assert producer.flush(30) == 0
        assert not tail.caught_up()  # a record arrived that the tail has not read
        assert tail.catch_up() == 1
        assert tail.caught_up()
    finally:
        tail.close()


def test_replay_stops_at_the_committed_offsets(settings: AlstreamSettings, group_id: str) -> None:
    topic = _batched_topic(settings)
    consumer = Consumer(consumer_config(settings, group_id=group_id, **{"enable.auto.commit": False}))
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, 7)], asynchronous=False)
    finally:
        consumer.close()
    assert committed_offsets(settings, group_id=group_id, topic=topic) == {0: 7}
    seen: list[int] = []
    assert (
        replay_committed(
            settings, group_id=group_id, topic=topic, handle=lambda b: seen.extend(m.offset() for m in b)
        )
        == 7
    )
    assert seen == list(range(7))
