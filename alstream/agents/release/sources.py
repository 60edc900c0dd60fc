"""Reads a topic from its beginning to the end it had when the read started.

Release builds and the trainer need "everything up to now", not a live stream: the streams reader
(:func:`alstream.streams.reading.read_to_end`) reads every partition to the end it has now, outside any
consumer group, so the same topic content always gives the same records. Undecodable records are
skipped and counted: the agents that own those topics already dead-lettered them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Message

from alstream.agents.release.exceptions import ReleaseError
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import codec_for
from alstream.streams.exceptions import BrokerError, ClusterUnreachable
from alstream.streams.messages import coordinates
from alstream.streams.reading import read_to_end

log = logging.getLogger(__name__)


@dataclass
class TopicSnapshot:
    records: list[dict[str, Any]] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    undecodable: int = 0


def read_topic(
    settings: AlstreamSettings, topic_key: str, *, patience_s: float | None = None, agent: str = "release"
) -> TopicSnapshot:
    """Every decodable record of ``topic_key`` up to the current end, in partition/offset order.

    Rides out broker outages; fails (:class:`ReleaseError`) only when nothing progressed for
    ``patience_s`` (default: ``kafka.outage_tolerance_s``)."""
    topic = settings.kafka.topic(topic_key)
    codec = codec_for(topic_key, settings)
    by_partition: dict[int, list[tuple[int, Message]]] = {}

    def keep(messages: list[Message]) -> None:
        for message in messages:
            _, partition, offset = coordinates(message)
            by_partition.setdefault(partition, []).append((offset, message))

    try:
        read_to_end(
            settings,
            [topic],
            keep,
            agent=agent,
            patience_s=settings.kafka.outage_tolerance_s if patience_s is None else patience_s,
        )
    except (BrokerError, ClusterUnreachable) as exc:
        raise ReleaseError(f"reading {topic}: {exc}") from exc
    snapshot = TopicSnapshot()
    for partition in sorted(by_partition):
        for offset, message in sorted(by_partition[partition], key=lambda row: row[0]):
            value = message.value()
            if value is None:
                continue
            try:
                snapshot.records.append(codec.decode(value))
                snapshot.keys.append(message.key())
            except Exception as exc:  # noqa: BLE001 - any record that does not decode is skipped, counted
                snapshot.undecodable += 1
                log.debug("skipping undecodable record %s[%s]@%s: %s", topic, partition, offset, exc)
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
