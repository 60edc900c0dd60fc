"""State rebuilt from topics, for the human-rate agents (labels, agreement).

Two readers, both outside the consumer group so they never disturb its offsets:

* :class:`TopicTail` reads whole topics from the beginning and keeps following them. Reference data
  every instance needs whatever partitions it owns (assignments, candidates) is read this way, so a
  label and its assignment may live on different partitions and instances.
* :func:`replay_committed` reads a topic from the beginning up to the group's committed offsets. An
  agent feeds those records to its processor in *restore* mode (no outputs, no metrics) at start, so a
  restart rebuilds dedupe sets and windows exactly as they were and re-emits nothing.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from alstream.observability.metrics import AGENT_ERRORS
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import RecordCodec
from alstream.streams.dead_letters import error_headers
from alstream.streams.end_offsets import read_end_offsets
from alstream.streams.exceptions import BrokerError, DecodeError
from alstream.streams.kafka_config import consumer_config
from alstream.streams.messages import coordinates

log = logging.getLogger(__name__)

K = TypeVar("K")
V = TypeVar("V")


class BoundedMap(Generic[K, V]):
    """A dict that forgets its oldest entries beyond ``max_size`` (memory stays bounded for years)."""

    def __init__(self, *, max_size: int) -> None:
        self.max_size = max_size
        self._data: OrderedDict[K, V] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: K, default: V | None = None) -> V | None:
        return self._data.get(key, default)

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __setitem__(self, key: K, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.max_size:
            self._data.popitem(last=False)

    def values(self) -> Iterator[V]:
        return iter(self._data.values())


def decode_into(
    messages: Iterable[Any],
    *,
    codec: RecordCodec,
    add: Callable[[dict[str, Any]], None],
    agent: str,
    what: str,
) -> int:
    """Decode each record and hand it to ``add``; an undecodable one is its producer's to fix (logged,
    counted in ``alstream_agent_errors_total``), never fatal to the index being rebuilt."""
    added = 0
    for message in messages:
        try:
            add(codec.decode(message.value()))
            added += 1
        except DecodeError as exc:
            AGENT_ERRORS.labels(agent, type(exc).__name__).inc()
            log.warning(
                "%s: undecodable %s at %s/%s: %s", agent, what, message.partition(), message.offset(), exc
            )
    return added


def _side_consumer(settings: AlstreamSettings) -> Consumer:
    """A consumer that is never a group member and never commits (group id only satisfies librdkafka)."""
    return Consumer(
        consumer_config(
            settings,
            group_id=f"{settings.kafka.client_id}-reader-{uuid.uuid4().hex[:8]}",
            **{"enable.auto.commit": False, "fetch.wait.max.ms": 10},
        )
    )


def _partitions(consumer: Consumer, topic: str, timeout_s: float) -> list[int]:
    metadata = consumer.list_topics(topic, timeout=timeout_s)
    described = metadata.topics.get(topic)
    if described is None or described.error is not None or not described.partitions:
        raise BrokerError(
            f"topic {topic} does not exist: create the catalogue first (`alstream topics create`)"
        )
    return sorted(described.partitions)


class TopicTail:
    """Follows whole topics from their beginning; ``poll`` returns what arrived since the last call."""

    def __init__(self, *, settings: AlstreamSettings, topics: list[str], timeout_s: float = 10.0) -> None:
        self.consumer = _side_consumer(settings)
        self._settings = settings
        self.topics = topics
        assignment = [
            TopicPartition(topic, p, OFFSET_BEGINNING)
            for topic in topics
            for p in _partitions(self.consumer, topic, timeout_s)
        ]
        self.consumer.assign(assignment)
        self._partitions = [TopicPartition(tp.topic, tp.partition) for tp in assignment]

    def poll(self, *, max_messages: int = 10_000, timeout_s: float = 0.0) -> list[Message]:
        messages = self.consumer.consume(max_messages, timeout_s)
        good = []
        for message in messages:
            if message.error() is None:
                good.append(message)
            elif (error := message.error()) is not None and error.fatal():
                raise KafkaException(error)
        return good

    def catch_up(self, handle: Callable[[list[Message]], object], *, timeout_s: float = 60.0) -> None:
        """Read until every partition reached the end it had when called (or the timeout).

        The end is the one a reader finds (:func:`read_end_offsets`): the broker's ListOffsets answer
        alone can stop the catch-up inside the last batch on brokers that under-report it."""
        listed = {}
        for tp in self._partitions:
            _, high = self.consumer.get_watermark_offsets(tp, timeout=10.0, cached=False)
            listed[(tp.topic, tp.partition)] = high
        targets = {key: end for key, end in read_end_offsets(self._settings, listed).items() if end > 0}
        deadline = time.monotonic() + timeout_s
        while targets and time.monotonic() < deadline:
            messages = self.poll(timeout_s=0.2)
            handle(messages)
            for topic, partition, offset in map(coordinates, messages):
                if (topic, partition) in targets and offset + 1 >= targets[(topic, partition)]:
                    del targets[(topic, partition)]
        if targets:
            log.warning(
                "catch-up of %s stopped after %.0fs with partitions behind: %s",
                self.topics,
                timeout_s,
                targets,
            )

    def caught_up(self, *, timeout_s: float = 5.0) -> bool:
        """True only if the broker answers and every partition has been read to its end.

        Why: "this label's assignment does not exist" is only a safe verdict once the assignments
        topic has been read to its end *now*. A wall-clock hold alone is not: while the broker is
        unreachable, or while this process catches up after a restart, valid labels would be
        dead-lettered as unknown. The end is the larger of the broker's ListOffsets answer and the
        last fetch's high watermark (some Kafka-compatible brokers under-report the former).
        """
        try:
            positions = self.consumer.position(self._partitions)
            for tp in positions:
                _, listed = self.consumer.get_watermark_offsets(tp, timeout=timeout_s, cached=False)
                _, fetched = self.consumer.get_watermark_offsets(tp, cached=True)
                end = max(listed, fetched)
                if end > 0 and (tp.offset < 0 or tp.offset < end):
                    return False
        except KafkaException as exc:
            log.info(
                "assignments topic not confirmed read to its end (%s): holding unknown labels longer", exc
            )
            return False
        return True

    def close(self) -> None:
        self.consumer.close()


def committed_offsets(settings: AlstreamSettings, *, group_id: str, topic: str) -> dict[int, int]:
    """partition -> the group's committed offset (partitions without a commit are left out)."""
    probe = Consumer(consumer_config(settings, group_id=group_id, **{"enable.auto.commit": False}))
    try:
        partitions = _partitions(probe, topic, 10.0)
        committed = probe.committed([TopicPartition(topic, p) for p in partitions], timeout=10.0)
    finally:
        probe.close()
    return {tp.partition: tp.offset for tp in committed if tp.offset > 0}


def replay_committed(
    settings: AlstreamSettings,
    *,
    group_id: str,
    topic: str,
    handle: Callable[[list[Message]], None],
    timeout_s: float = 120.0,
) -> int:
    """Feed ``handle`` every record of ``topic`` below the group's committed offsets; returns the count."""
    targets = committed_offsets(settings, group_id=group_id, topic=topic)
    if not targets:
        return 0
    consumer = _side_consumer(settings)
    count = 0
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in targets])
        deadline = time.monotonic() + timeout_s
        pending = dict(targets)
        while pending and time.monotonic() < deadline:
            batch: list[Any] = []
            for message in consumer.consume(5_000, 0.2):
                if message.error() is not None:
                    continue
                _, partition, offset = coordinates(message)
                limit = pending.get(partition)
                if limit is None or offset >= limit:
                    continue
                batch.append(message)
                if offset + 1 >= limit:
                    del pending[partition]
            if batch:
                handle(batch)
                count += len(batch)
        if pending:
            raise BrokerError(
                f"replay of {topic} for group {group_id} did not reach the committed offsets "
                f"within {timeout_s}s "
                f"(partitions behind: {sorted(pending)}); state would be incomplete, refusing to start"
            )
    finally:
        consumer.close()
    return count


def dead_lettered_offsets(
    settings: AlstreamSettings, *, agent: str, source_topic: str
) -> set[tuple[int, int]]:
    """(partition, offset) of every ``source_topic`` record ``agent`` dead-lettered (read from the
    headers, no decoding), so a restarted agent knows which held records it already decided."""
    found: set[tuple[int, int]] = set()

    def collect(messages: list[Message]) -> None:
        for message in messages:
            headers = error_headers(message.headers())
            if headers.get("agent") == agent and headers.get("topic") == source_topic:
                try:
                    found.add((int(headers["partition"]), int(headers["offset"])))
                except (KeyError, ValueError):
                    continue

    tail = TopicTail(settings=settings, topics=[settings.kafka.topic("dead-letters")])
    try:
        tail.catch_up(collect)
    finally:
        tail.close()
    return found
