"""Read a whole topic, from the beginning up to its current end, for the checker."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from alstream.settings import AlstreamSettings
from alstream.streams.end_offsets import read_end_offsets
from alstream.streams.kafka_config import consumer_config


def dump(settings: AlstreamSettings, base: str, *, timeout_s: float = 60.0) -> list[Message]:
    """Every message of ``base`` present when the call started (all partitions)."""
    topic = settings.kafka.topic(base)
    consumer = Consumer(
        consumer_config(settings, group_id=f"checker-{uuid.uuid4().hex[:8]}", **{"enable.auto.commit": False})
    )
    try:
        partitions = consumer.list_topics(topic, timeout=timeout_s).topics[topic].partitions
        lows, listed = {}, {}
        for p in partitions:
            lows[p], listed[(topic, p)] = consumer.get_watermark_offsets(
                TopicPartition(topic, p), timeout=timeout_s
            )
        # The broker's ListOffsets answer can stop short of the end (Tansu under-reports it). Reading only
        # that far keeps the partition's last records whenever one consume() happens to return the whole
        # last batch, and misses them otherwise; missed assignments show up as candidates "neither
        # assigned nor pooled", losses that are not.
        ends = {
            p: end
            for (_, p), end in read_end_offsets(settings, listed, timeout_s=timeout_s).items()
            if end > lows[p]
        }
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
