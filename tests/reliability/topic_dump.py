"""Read a whole topic, from the beginning up to its current end, for the checker."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from alstream.settings import AlstreamSettings
from alstream.streams.kafka_config import consumer_config


def dump(settings: AlstreamSettings, base: str, *, timeout_s: float = 60.0) -> list[Message]:
    """Every message of ``base`` present when the call started (all partitions)."""
    topic = settings.kafka.topic(base)
    consumer = Consumer(consumer_config(settings, group_id=f"checker-{uuid.uuid4().hex[:8]}", **{"enable.auto.commit": False}))
    try:
        partitions = consumer.list_topics(topic, timeout=timeout_s).topics[topic].partitions
        ends = {}
        for p in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout_s)
            if high > low:
                ends[p] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        out: list[Message] = []
        done: dict[int, int] = {}
        deadline = time.monotonic() + timeout_s
        while len(done) < len(ends) and time.monotonic() < deadline:
            for message in consumer.consume(10_000, 0.2):
                if message.error() is not None:
                    continue
                out.append(message)
                if message.offset() + 1 >= ends[message.partition()]:
                    done[message.partition()] = message.offset()
        if len(done) < len(ends):
            raise TimeoutError(f"could not read {topic} to its end within {timeout_s}s")
        return out
    finally:
        consumer.close()
