"""Retention as part of the contract: warn before a record a reader still needs expires.

Each topic of the catalogue says how long it keeps records and who relies on that history
(``TopicSpec.needed_by``). A consumer group's committed offset marks the oldest record it has not read
yet; when that record's age nears the topic's retention, the broker will delete it before the reader
gets to it (the release ledger losing assignments or embeddings, the router losing candidates). When
the committed offset is already below the partition's first offset, records were deleted unread.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Consumer, TopicPartition

from alstream.settings import AlstreamSettings
from alstream.streams.kafka_config import consumer_config
from alstream.streams.topics import CATALOGUE, DAY_MS, TopicSpec

WARN_SHARE = 0.8  # warn once the oldest unread record has lived this share of its topic's retention


@dataclass(frozen=True)
class Unread:
    """Where one group stands on one partition of a topic with a finite retention."""

    agent: str
    topic: str
    partition: int
    committed: int  # the group's next offset to read
    first_offset: int  # the partition's oldest record still kept
    oldest_unread_ms: int | None  # timestamp of the record at ``committed``; None: nothing unread


def retention_problem(
    unread: Unread, spec: TopicSpec, *, now_ms: int, warn_share: float = WARN_SHARE
) -> str | None:
    """What an operator must know about ``unread``, or None when its oldest needed record is safe."""
    days = spec.retention_ms / DAY_MS
    where = f"{unread.agent}: {unread.topic} partition {unread.partition}"
    if unread.committed < unread.first_offset:
        return (
            f"{where}: {unread.first_offset - unread.committed} records expired (retention {days:g} days) "
            f"before {unread.agent} read them; {spec.base_name} is needed by {spec.needed_by}"
        )
    if unread.oldest_unread_ms is None or spec.retention_ms <= 0:
        return None
    age_ms = now_ms - unread.oldest_unread_ms
    if age_ms < warn_share * spec.retention_ms:
        return None
    return (
        f"{where}: the oldest record {unread.agent} has not read is {age_ms / DAY_MS:.1f} days old and "
        f"{spec.base_name} keeps {days:g} days: start {unread.agent} before it expires "
        f"({spec.base_name} is needed by {spec.needed_by})"
    )


def retention_warnings(
    settings: AlstreamSettings,
    groups: Iterable[tuple[str, str, str, int]],
    *,
    timeout_s: float,
    now: datetime | None = None,
) -> list[str]:
    """Warnings for (agent, group, topic, partitions) on topics with a finite retention."""
    specs = {settings.kafka.topic(spec.base_name): spec for spec in CATALOGUE}
    now_ms = int((now or datetime.now(UTC)).timestamp() * 1000)
    wanted = [g for g in groups if g[2] in specs and specs[g[2]].retention_ms > 0]
    if not wanted:
        return []
    probe = Consumer(
        consumer_config(settings, group_id=f"alstream-audit-retention-{uuid.uuid4().hex[:8]}")
        | {"enable.auto.commit": False}
    )
    problems = []
    try:
        for agent, group, topic, partitions in wanted:
            for unread in _unread(settings, probe, agent, group, topic, partitions, timeout_s):
                problem = retention_problem(unread, specs[topic], now_ms=now_ms)
                if problem:
                    problems.append(problem)
    finally:
        probe.close()
    return problems


def _unread(
    settings: AlstreamSettings,
    probe: Consumer,
    agent: str,
    group: str,
    topic: str,
    partitions: int,
    timeout_s: float,
) -> list[Unread]:
    member = Consumer(consumer_config(settings, group_id=group) | {"enable.auto.commit": False})
    try:
        committed = member.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=timeout_s)
    finally:
        member.close()
    found = []
    for tp in committed:
        if tp.offset < 0:  # never committed: the group has not started on it (lag says so)
            continue
        low, _high = probe.get_watermark_offsets(TopicPartition(topic, tp.partition), timeout=timeout_s)
        oldest = None
        if tp.offset >= low:
            probe.assign([TopicPartition(topic, tp.partition, tp.offset)])
            message = probe.poll(timeout_s)
            if message is not None and message.error() is None and message.offset() == tp.offset:
                oldest = message.timestamp()[1]
        found.append(Unread(agent, topic, tp.partition, tp.offset, max(0, low), oldest))
    return found
