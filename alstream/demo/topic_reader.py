"""Reads a whole topic from the beginning, up to its end at the time of the call.

The demo's final audit and report need every record once, without joining a consumer group (an
audit must not move any agent's committed offsets), so this assigns partitions directly and stops at
the high watermarks it saw when it started.
"""

from __future__ import annotations

import time
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from alstream.settings import AlstreamSettings
from alstream.streams.codecs import codec_for
from alstream.streams.kafka_config import consumer_config


def read_topic(settings: AlstreamSettings, base_name: str, *, timeout_s: float = 30.0) -> list[dict[str, Any]]:
    """Every decodable record of ``base_name`` (undecodable ones are the dead-letter topic's business)."""
    topic = settings.kafka.topic(base_name)
    consumer = Consumer(
        consumer_config(settings, group_id=f"alstream-audit-{time.time_ns()}", **{"enable.auto.commit": False})
    )
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
        partitions = sorted(metadata.topics[topic].partitions)
        ends: dict[int, int] = {}
        assignment = []
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=timeout_s)
            if high > low:
                ends[partition] = high
                assignment.append(TopicPartition(topic, partition, low))
        if not assignment:
            return []
        consumer.assign(assignment)
        codec = codec_for(settings, base_name)
        records: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while ends and time.monotonic() < deadline:
            for message in consumer.consume(10_000, 0.5):
                if message.error() is not None:
                    continue
                partition = message.partition()
                if partition in ends and message.offset() < ends[partition]:
                    try:
                        records.append(codec.decode(message.value()))
                    except Exception:  # noqa: BLE001 - audits skip what agents dead-lettered
                        pass
                    if message.offset() >= ends[partition] - 1:
                        del ends[partition]
        return records
    finally:
        consumer.close()
