"""State rebuilt from what a consumer group already committed.

An agent feeds the records of its input topic below the group's committed offsets to its processor
in *restore* mode (no outputs, no metrics) at start, so a restart rebuilds dedupe sets and windows
exactly as they were and re-emits nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from alstream.streams.availability import health_for
from alstream.streams.config import KafkaSource, kafka_of
from alstream.streams.exceptions import BrokerError
from alstream.streams.kafka_config import consumer_config
from alstream.streams.reading import TopicTail


def committed_offsets(
    settings: KafkaSource,
    *,
    group_id: str,
    topic: str,
    agent: str = "alstream",
    patience_s: float | None = None,
    stop: Callable[[], bool] | None = None,
) -> dict[int, int]:
    """partition -> the group's committed offset (partitions without a commit are left out)."""
    kafka = kafka_of(settings)
    probe = Consumer(consumer_config(kafka, group_id=group_id, **{"enable.auto.commit": False}))

    def ask() -> list[TopicPartition]:
        described = probe.list_topics(topic, timeout=10.0).topics.get(topic)
        if described is None or not described.partitions:
            raise BrokerError(
                f"topic {topic} does not exist: create the catalogue first (`alstream topics create`)"
            )
        if described.error is not None:
            raise KafkaException(described.error)
        return probe.committed([TopicPartition(topic, p) for p in sorted(described.partitions)], timeout=10.0)

    try:
        committed = health_for(agent, kafka).call(
            f"committed offsets of {group_id}", ask, patience_s=patience_s
        )
    finally:
        probe.close()
    return {tp.partition: tp.offset for tp in committed if tp.offset > 0}


def replay_committed(
    settings: KafkaSource,
    *,
    group_id: str,
    topic: str,
    handle: Callable[[list[Message]], None],
    agent: str = "alstream",
    patience_s: float | None = None,
    stop: Callable[[], bool] | None = None,
) -> int:
    """Feed ``handle`` every record of ``topic`` below the group's committed offsets; returns the count.

    Waits out broker outages (``patience_s`` None: as long as it takes); a replay that cannot reach the
    committed offsets raises rather than start an agent with incomplete state.
    """
    targets = committed_offsets(
        settings, group_id=group_id, topic=topic, agent=agent, patience_s=patience_s, stop=stop
    )
    if not targets:
        return 0
    tail = TopicTail(
        settings=settings,
        start={(topic, partition): OFFSET_BEGINNING for partition in targets},
        agent=agent,
        patience_s=patience_s,
        stop=stop,
    )
    try:
        return tail.read_until({(topic, partition): offset for partition, offset in targets.items()}, handle)
    finally:
        tail.close()
