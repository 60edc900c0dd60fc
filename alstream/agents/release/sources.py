"""Reads a topic from its beginning to the end it had when the read started.

Release builds and the trainer need "everything up to now", not a live stream: a reader assigns every
partition (no consumer group membership, nothing committed), snapshots the high watermarks and stops
there, so the same topic content always gives the same records. Undecodable records are skipped and
counted: the agents that own those topics already dead-lettered them.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from alstream.agents.release.exceptions import ReleaseError
from alstream.exceptions import AlstreamError
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import codec_for
from alstream.streams.kafka_config import consumer_config
from alstream.streams.messages import coordinates

log = logging.getLogger(__name__)


@dataclass
class TopicSnapshot:
    records: list[dict[str, Any]] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    undecodable: int = 0


def read_topic(settings: AlstreamSettings, topic_key: str, *, timeout_s: float = 60.0) -> TopicSnapshot:
    """Every decodable record of ``topic_key`` up to the current end, in partition/offset order."""
    topic = settings.kafka.topic(topic_key)
    codec = codec_for(topic_key, settings)
    consumer = Consumer(
        consumer_config(
            settings,
            group_id=f"alstream-reader-{uuid.uuid4().hex[:12]}",
            **{"enable.auto.commit": False, "enable.partition.eof": True},
        )
    )
    snapshot = TopicSnapshot()
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        info = metadata.topics.get(topic)
        if info is None or info.error is not None:
            raise ReleaseError(
                f"topic {topic} is not available ({info.error if info else 'missing'}): "
                "run `alstream topics create`"
            )
        # The end is where the first end-of-partition event lands at or after the listed high
        # watermark: the fetch's high watermark is authoritative (some Kafka-compatible brokers
        # under-report ListOffsets), and waiting for it also covers an under-reported end.
        ends: dict[int, int] = {}
        for partition in sorted(info.partitions):
            _, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=10, cached=False
            )
            ends[partition] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in ends])
        by_partition: dict[int, list[tuple[int, bytes | None, bytes | None]]] = {p: [] for p in ends}
        remaining = set(ends)
        deadline = time.monotonic() + timeout_s
        while remaining:
            if time.monotonic() > deadline:
                raise ReleaseError(
                    f"reading {topic} timed out after {timeout_s}s; partitions {sorted(remaining)} "
                    "not read to their end"
                )
            for message in consumer.consume(1000, 0.5):
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise ReleaseError(f"reading {topic}: {error}")
                    _, partition, offset = coordinates(message)
                    if offset >= ends.get(partition, 0):
                        remaining.discard(partition)
                    continue
                _, partition, offset = coordinates(message)
                if partition in remaining:
                    by_partition[partition].append((offset, message.key(), message.value()))
        for partition in sorted(by_partition):
            for _, key, value in sorted(by_partition[partition], key=lambda row: row[0]):
                if value is None:
                    continue
                try:
                    snapshot.records.append(codec.decode(value))
                    snapshot.keys.append(key)
                except AlstreamError as exc:
                    snapshot.undecodable += 1
                    log.debug("skipping undecodable record on %s: %s", topic, exc)
    finally:
        consumer.close()
    if snapshot.undecodable:
        log.warning("%s: skipped %d undecodable records (see dead letters)", topic, snapshot.undecodable)
    return snapshot


def latest_model_record(
    settings: AlstreamSettings, model_name: str, *, not_after: Any = None
) -> dict[str, Any] | None:
    """The newest models-topic record of ``model_name`` (optionally created no later than ``not_after``)."""
    records = [r for r in read_topic(settings, "models").records if r["model_name"] == model_name]
    if not_after is not None:
        records = [r for r in records if r["created_at"] <= not_after]
    return max(records, key=lambda r: r["created_at"]) if records else None
