"""The end of a partition is where a reader finds it, even when ListOffsets under-reports it.

Tansu 0.6.0 answers ListOffsets(latest) with the last batch's base offset + 1; faust's table recovery
trusted that answer and stopped early. On a correct broker both answers agree and the test still holds.
"""

from __future__ import annotations

import asyncio

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from alstream.settings import AlstreamSettings
from alstream.streams.end_offsets import read_end_offsets
from alstream.streams.kafka_config import admin_config, consumer_config, producer_config

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
    ends = read_end_offsets(settings, listed)

    assert ends == {(topic, 0): 11, (topic, 1): 0}, f"ListOffsets said {listed}"


def test_no_partitions_asked_no_partitions_answered(settings: AlstreamSettings) -> None:
    assert read_end_offsets(settings, {}) == {}


def test_faust_recovery_reads_to_the_end_a_reader_finds(settings: AlstreamSettings) -> None:
    """faust's table recovery asks aiokafka's ``end_offsets`` how far to read a changelog."""
    import aiokafka

    from alstream.streams.faust_support import _patch_aiokafka_consumer

    topic = _batched_topic(settings)
    _patch_aiokafka_consumer(settings)  # what make_app does for every faust agent

    async def ends() -> dict[tuple[str, int], int]:
        consumer = aiokafka.AIOKafkaConsumer(bootstrap_servers=settings.kafka.require_bootstrap())
        await consumer.start()
        try:
            found = await consumer.end_offsets([aiokafka.TopicPartition(topic, p) for p in (0, 1)])
        finally:
            await consumer.stop()
        return {(tp.topic, tp.partition): offset for tp, offset in found.items()}

    assert asyncio.run(ends()) == {(topic, 0): 11, (topic, 1): 0}
