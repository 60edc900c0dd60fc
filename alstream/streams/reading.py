"""Reading topics outside any consumer group: whole topics to their end, up to given offsets, or
following them as they grow. The one module that knows where a partition ends.

The broker's ListOffsets answer (what ``get_watermark_offsets(cached=False)`` asks) is not enough:
the embedded broker (Tansu 0.6) answers it with the base offset of the partition's last record
batch plus one, so after one produce request of 10 records into an empty partition it says the end
is 1, not 10 (``tests/integration/streams/test_reading.py``). A fetch reports the true high
watermark, and reaching it raises a partition-EOF event. So a partition has been read to its end
once a partition-EOF was reported at or after its listed end. On Apache Kafka the listed end is
already the true one and the same rule costs nothing.

A reader never joins a consumer group and never commits. It rides out broker outages: reads make
no progress while the cluster does not answer, and a read that needs the end gives up only when
nothing progressed for ``patience_s`` (None: it waits as long as it takes, what agents do).
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from alstream.streams.availability import BrokerHealth, health_for, is_transient_error
from alstream.streams.config import KafkaSource, kafka_of
from alstream.streams.exceptions import BrokerError, Interrupted
from alstream.streams.kafka_config import consumer_config
from alstream.streams.messages import coordinates

log = logging.getLogger(__name__)

Partition = tuple[str, int]
PROGRESS_LOG_S = 30.0


class TopicTail:
    """Whole topics (every partition) from the beginning, or partitions from given offsets.

    ``poll`` returns what arrived since the last call; :meth:`catch_up` reads to the end the
    partitions have now; :meth:`caught_up` says whether everything there is now has been read.
    """

    def __init__(
        self,
        *,
        settings: KafkaSource,
        topics: Sequence[str] = (),
        start: Mapping[Partition, int] | None = None,
        agent: str = "alstream",
        patience_s: float | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> None:
        """``stop()`` true ends any wait (for the cluster, for the end) with :class:`Interrupted`."""
        self._kafka = kafka_of(settings)
        self.agent = agent
        self.patience_s = patience_s
        self.stop = stop
        self.health: BrokerHealth = health_for(agent, self._kafka)
        self.consumer = Consumer(
            consumer_config(
                self._kafka,
                group_id=f"{self._kafka.client_id}-reader-{uuid.uuid4().hex[:8]}",
                **{"enable.auto.commit": False, "enable.partition.eof": True},
            )
        )
        if start is None:
            start = {
                (topic, partition): OFFSET_BEGINNING
                for topic in topics
                for partition in self._partitions_of(topic)
            }
        self.topics = sorted({topic for topic, _ in start}) if not topics else list(topics)
        self.partitions: list[Partition] = list(start)
        # partition -> the offset a partition-EOF reported, while nothing was read after it
        self._eof_at: dict[Partition, int] = {}
        self.consumer.assign([TopicPartition(topic, p, offset) for (topic, p), offset in start.items()])

    def _partitions_of(self, topic: str) -> list[int]:
        def describe() -> list[int]:
            metadata = self.consumer.list_topics(topic, timeout=10.0)
            described = metadata.topics.get(topic)
            if described is None or not described.partitions:
                raise BrokerError(
                    f"topic {topic} does not exist: create the catalogue first (`alstream topics create`)"
                )
            if described.error is not None:
                raise KafkaException(described.error)
            return sorted(described.partitions)

        return self.health.call(f"metadata of {topic}", describe, patience_s=self.patience_s, stop=self.stop)

    # -- following --------------------------------------------------------------------------------

    def poll(self, *, max_messages: int = 10_000, timeout_s: float = 0.0) -> list[Message]:
        """Records that arrived since the last call (possibly none); broker trouble is waited out."""
        good = []
        answered = False  # a record or an end-of-partition event: the broker answers
        for message in self.consumer.consume(max_messages, timeout_s):
            error = message.error()
            if error is None:
                good.append(message)
                topic, partition, _ = coordinates(message)
                self._eof_at.pop((topic, partition), None)
                answered = True
            elif error.code() == KafkaError._PARTITION_EOF:
                topic, partition, offset = coordinates(message)
                self._eof_at[(topic, partition)] = offset
                answered = True
            elif error.fatal() or not is_transient_error(error):
                raise BrokerError(f"reading {message.topic()}: {error}")
            else:
                self.health.failed(f"read {message.topic()}", error)
        if answered and self.health.down_since is not None:
            self.health.ok()
        return good

    # -- to the end -------------------------------------------------------------------------------

    def listed_ends(self, partitions: Iterable[Partition] | None = None) -> dict[Partition, int]:
        """The broker's ListOffsets answer per partition (a lower bound of the true end)."""

        def ask() -> dict[Partition, int]:
            ends = {}
            for topic, partition in partitions if partitions is not None else self.partitions:
                _, high = self.consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=10.0, cached=False
                )
                ends[(topic, partition)] = max(0, high)
            return ends

        return self.health.call("list offsets", ask, patience_s=self.patience_s, stop=self.stop)

    def catch_up(
        self, handle: Callable[[list[Message]], None] = lambda _: None, *, patience_s: float | None = None
    ) -> int:
        """Hand ``handle`` every record up to the end every partition has now; returns the count.

        ``patience_s`` (else the reader's own) bounds how long the read may make no progress."""
        targets = self.listed_ends()
        return self._read(targets, handle, until_eof=True, patience_s=patience_s)

    def read_until(self, targets: Mapping[Partition, int], handle: Callable[[list[Message]], None]) -> int:
        """Hand ``handle`` every record below ``targets`` (partition -> offset, e.g. a group's committed
        offsets); records at or past a partition's target are not handed over. Returns the count."""
        return self._read(dict(targets), handle, until_eof=False)

    def _read(
        self,
        targets: dict[Partition, int],
        handle: Callable[[list[Message]], None],
        *,
        until_eof: bool,
        patience_s: float | None = None,
    ) -> int:
        patience = self.patience_s if patience_s is None else patience_s
        pending = {key: target for key, target in targets.items() if not self._done(key, target, until_eof)}
        count = 0
        last_progress = last_log = time.monotonic()

        def below_target(message: Message) -> bool:
            topic, partition, offset = coordinates(message)
            return offset < targets.get((topic, partition), 0)

        while pending:
            if self.stop is not None and self.stop():
                raise Interrupted(f"stopped while reading {', '.join(self.topics)}")
            arrived = self.poll(timeout_s=0.2)
            now = time.monotonic()
            if arrived or any(key in self._eof_at for key in pending):
                last_progress = now
            batch = arrived if until_eof else [m for m in arrived if below_target(m)]
            if batch:
                handle(batch)
                count += len(batch)
            for key, target in list(pending.items()):
                if self._done(key, target, until_eof, arrived):
                    del pending[key]
            if not pending:
                break
            stalled = now - last_progress
            if patience is not None and stalled >= patience:
                raise BrokerError(
                    f"reading {', '.join(self.topics)} made no progress for {stalled:.0f}s; partitions not "
                    f"read to their end: {sorted(pending)}"
                )
            if now - last_log >= PROGRESS_LOG_S:
                last_log = now
                log.info(
                    "%s: still reading %s (%d records so far; partitions behind: %s)",
                    self.agent,
                    ", ".join(self.topics),
                    count,
                    sorted(pending),
                )
        return count

    def _done(self, key: Partition, target: int, until_eof: bool, arrived: Sequence[Message] = ()) -> bool:
        eof = self._eof_at.get(key)
        if eof is not None and eof >= target:
            return True
        if until_eof:
            return False  # only a partition-EOF proves the end (the listed end may be short of it)
        # a record at or past the target's last offset (offsets may have gaps: compaction, markers)
        return target <= 0 or any(
            offset + 1 >= target
            for topic, partition, offset in map(coordinates, arrived)
            if (topic, partition) == key
        )

    def caught_up(self, *, timeout_s: float = 5.0) -> bool:
        """True only if the broker answers now and every partition has been read to its end.

        "This label's assignment does not exist" is only a safe verdict once the assignments topic has
        been read to its end *now*: while the broker does not answer, or while this process catches up
        after a restart, valid labels would otherwise be dead-lettered as unknown.
        """
        try:
            for topic, partition in self.partitions:
                _, listed = self.consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=timeout_s, cached=False
                )
                eof = self._eof_at.get((topic, partition))
                if listed > 0 and (eof is None or eof < listed):
                    return False
                if listed <= 0 and eof is None:
                    return False
        except KafkaException as exc:
            log.info("%s: %s not confirmed read to its end (%s)", self.agent, ", ".join(self.topics), exc)
            return False
        return True

    def close(self) -> None:
        with contextlib.suppress(RuntimeError):  # closed already
            self.consumer.close()


def read_to_end(
    settings: KafkaSource,
    topics: Sequence[str],
    handle: Callable[[list[Message]], None],
    *,
    agent: str = "alstream",
    patience_s: float | None = None,
    stop: Callable[[], bool] | None = None,
) -> int:
    """Every record of ``topics`` up to the end they have now, handed to ``handle`` in batches (offset
    order within a partition); returns the count."""
    tail = TopicTail(settings=settings, topics=topics, agent=agent, patience_s=patience_s, stop=stop)
    try:
        return tail.catch_up(handle)
    finally:
        tail.close()


def end_offsets(
    settings: KafkaSource,
    partitions: Iterable[Partition],
    *,
    agent: str = "alstream",
    patience_s: float | None = 30.0,
    timeout_s: float = 10.0,
) -> dict[Partition, int]:
    """(topic, partition) -> where each partition ends now: the broker's listed end (ListOffsets, each
    answer awaited up to ``timeout_s``), then read on to a fetch's partition-EOF
    (:func:`true_end_offsets`)."""
    wanted = list(partitions)
    if not wanted:
        return {}
    kafka = kafka_of(settings)
    probe = Consumer(
        consumer_config(
            kafka,
            group_id=f"{kafka.client_id}-reader-{uuid.uuid4().hex[:8]}",
            **{"enable.auto.commit": False},
        )
    )
    try:
        listed = {
            (topic, partition): probe.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout_s, cached=False
            )[1]
            for topic, partition in wanted
        }
    finally:
        probe.close()
    return true_end_offsets(settings, listed, agent=agent, patience_s=patience_s)


def true_end_offsets(
    settings: KafkaSource,
    listed: Mapping[Partition, int],
    *,
    agent: str = "alstream",
    patience_s: float | None = 30.0,
) -> dict[Partition, int]:
    """(topic, partition) -> the end offset a reader finds, never below ``listed`` (a ListOffsets answer).

    Reads each partition from its listed end to the partition-EOF of a fetch; on a correct broker that
    EOF comes at once.
    """
    ends = {key: max(0, offset) for key, offset in listed.items()}
    if not ends:
        return ends
    tail = TopicTail(settings=settings, start=ends, agent=agent, patience_s=patience_s)
    try:

        def note(messages: list[Message]) -> None:
            for message in messages:
                topic, partition, offset = coordinates(message)
                ends[(topic, partition)] = max(ends[(topic, partition)], offset + 1)

        tail._read(dict(ends), note, until_eof=True)
        for key, eof in tail._eof_at.items():
            ends[key] = max(ends[key], eof)
    finally:
        tail.close()
    return ends
