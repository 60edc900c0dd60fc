"""In-memory stand-ins for the Kafka clients, for unit tests of agents and of the runtime without a broker.

Shipped next to the real connectors (as bytewax ships its testing source and sink) so every agent can
be tested the same way. They mimic the parts of confluent-kafka's ``Producer`` / ``Consumer`` /
``Message`` that agents use:

* :class:`InMemoryProducer` records what was produced; with a :class:`InMemoryBroker` it also appends
  to the broker's partition logs, and it can refuse outputs or stop acknowledging them (an outage);
* :class:`InMemoryConsumer` is a consumer-group member of an :class:`InMemoryBroker`: stored offsets
  are committed on ``commit`` / ``close``, so dropping a consumer without closing it is a SIGKILL;
* :func:`in_memory_outputs` hands a processor the runtime's :class:`~alstream.streams.batch_loop.Outputs`
  on an :class:`InMemoryProducer`, so its outputs and dead letters can be read back;
* :func:`in_memory_runner` builds the runtime's batch loop on them, so replay, the poison-pill rule
  and crash-resume are unit-tested.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from alstream.streams.messages import Headers
from alstream.streams.partitioning import partition_for

if TYPE_CHECKING:
    from confluent_kafka import Producer

    from alstream.streams.batch_loop import BatchAgentRunner, BatchProcessor, Outputs


@dataclass
class InMemoryMessage:
    """Quacks like ``confluent_kafka.Message``."""

    _topic: str
    _value: bytes | None
    _key: bytes | None = None
    _partition: int = 0
    _offset: int = 0
    _headers: Headers | None = None
    _timestamp_ms: int = 0
    _error: Any = None

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def headers(self) -> Headers | None:
        return self._headers

    def timestamp(self) -> tuple[int, int]:
        return (1, self._timestamp_ms)

    def error(self) -> Any:
        return self._error


@dataclass
class InMemoryBroker:
    """Partition logs and committed offsets: what an :class:`InMemoryProducer` writes and an
    :class:`InMemoryConsumer` reads."""

    partitions: int = 1
    logs: dict[str, list[list[InMemoryMessage]]] = field(default_factory=dict)
    committed: dict[str, dict[tuple[str, int], int]] = field(default_factory=lambda: defaultdict(dict))

    def log(self, topic: str) -> list[list[InMemoryMessage]]:
        if topic not in self.logs:
            self.logs[topic] = [[] for _ in range(self.partitions)]
        return self.logs[topic]

    def append(
        self,
        topic: str,
        value: bytes | None,
        *,
        key: bytes | str | None = None,
        partition: int = -1,
        headers: Headers | None = None,
    ) -> InMemoryMessage:
        raw_key = key.encode() if isinstance(key, str) else key
        if partition < 0:
            partition = partition_for(raw_key, self.partitions) if raw_key is not None else 0
        log = self.log(topic)[partition]
        message = InMemoryMessage(topic, value, raw_key, partition, len(log), headers)
        log.append(message)
        return message

    def messages(self, topic: str) -> list[InMemoryMessage]:
        """Every record of ``topic``, partition by partition, in offset order."""
        return [message for log in self.log(topic) for message in log]

    def producer(self) -> InMemoryProducer:
        return InMemoryProducer(partitions=self.partitions, broker=self)

    def consumer(self, group_id: str) -> InMemoryConsumer:
        return InMemoryConsumer(broker=self, group_id=group_id)


@dataclass
class InMemoryProducer:
    """Quacks like ``confluent_kafka.Producer``: records what was produced, per topic, in order
    (``topics``), and delivers it to its broker, if any, on ``poll`` / ``flush``.

    ``acknowledging`` False models a broker outage: records queue, ``flush`` leaves them pending.
    ``refuse(message)`` returning an error (a ``KafkaError``, or any value a delivery callback takes)
    makes that output's delivery fail with it.
    """

    partitions: int = 1
    topics: dict[str, list[InMemoryMessage]] = field(default_factory=lambda: defaultdict(list))
    broker: InMemoryBroker | None = None
    acknowledging: bool = True
    refuse: Callable[[InMemoryMessage], Any] | None = None
    _pending: list[tuple[Callable[..., Any] | None, InMemoryMessage, Any]] = field(default_factory=list)

    def produce(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | str | None = None,
        partition: int = -1,
        on_delivery: Callable[..., Any] | None = None,
        headers: Headers | None = None,
        **_: Any,
    ) -> None:
        raw_key = key.encode() if isinstance(key, str) else key
        if partition < 0:
            partition = partition_for(raw_key, self.partitions) if raw_key is not None else 0
        log = self.topics[topic]
        message = InMemoryMessage(topic, value, raw_key, partition, len(log), headers)
        log.append(message)  # what was produced, delivered or not
        error = self.refuse(message) if self.refuse is not None else None
        self._pending.append((on_delivery, message, error))

    def poll(self, timeout: float = 0) -> int:
        if not self.acknowledging:
            if timeout:
                time.sleep(min(timeout, 0.01))
            return 0
        pending, self._pending = self._pending, []
        for callback, message, error in pending:
            if error is None and self.broker is not None:
                self.broker.append(
                    message.topic(),
                    message.value(),
                    key=message.key(),
                    partition=message.partition(),
                    headers=message.headers(),
                )
            if callback is not None:
                callback(error, message)
        return len(pending)

    def flush(self, timeout: float = 0) -> int:
        self.poll(timeout)
        return len(self._pending)

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any:
        """Metadata: answered while the broker acknowledges, a transport error during an outage."""
        if not self.acknowledging:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT, "in-memory broker outage"))
        return type("ClusterMetadata", (), {"topics": dict.fromkeys(self.topics), "brokers": {1: None}})()

    def __len__(self) -> int:
        return len(self._pending)

    def values(self, topic: str) -> list[bytes | None]:
        return [m.value() for m in self.topics[topic]]


@dataclass
class InMemoryConsumer:
    """Quacks like a subscribed ``confluent_kafka.Consumer`` of one group on an :class:`InMemoryBroker`.

    It owns every partition of its topics. Stored offsets become committed on ``commit`` and
    ``close`` (librdkafka's auto-commit of stored offsets); drop it without ``close`` to model a
    SIGKILL. ``fetch_errors`` are handed out (as error messages) by the next ``consume``.
    """

    broker: InMemoryBroker
    group_id: str
    fetch_errors: list[KafkaError] = field(default_factory=list)
    _positions: dict[tuple[str, int], int] = field(default_factory=dict)
    _stored: dict[tuple[str, int], int] = field(default_factory=dict)
    _paused: set[tuple[str, int]] = field(default_factory=set)
    _on_revoke: Callable[..., Any] | None = None
    closed: bool = False

    def subscribe(
        self,
        topics: Sequence[str],
        on_assign: Callable[..., Any] | None = None,
        on_revoke: Callable[..., Any] | None = None,
        **_: Any,
    ) -> None:
        committed = self.broker.committed[self.group_id]
        assignment = []
        for topic in topics:
            for partition in range(len(self.broker.log(topic))):
                self._positions[(topic, partition)] = committed.get((topic, partition), 0)
                assignment.append(TopicPartition(topic, partition))
        self._on_revoke = on_revoke
        if on_assign is not None:
            on_assign(self, assignment)

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Any]:
        if self.fetch_errors:
            return [InMemoryMessage("", None, _error=self.fetch_errors.pop(0))]
        out: list[Any] = []
        for key, position in self._positions.items():
            if key in self._paused:
                continue
            log = self.broker.log(key[0])[key[1]]
            taken = log[position : position + num_messages - len(out)]
            out.extend(taken)
            self._positions[key] = position + len(taken)
            if len(out) >= num_messages:
                break
        if not out and timeout and timeout > 0:
            time.sleep(min(timeout, 0.01))
        return out

    def poll(self, timeout: float = -1) -> Any:
        taken = self.consume(1, timeout)
        return taken[0] if taken else None

    def store_offsets(self, offsets: Sequence[TopicPartition] | None = None, **_: Any) -> None:
        for tp in offsets or []:
            self._stored[(tp.topic, tp.partition)] = tp.offset

    def commit(self, *, asynchronous: bool = True, **_: Any) -> None:
        self.broker.committed[self.group_id].update(self._stored)

    def pause(self, partitions: Sequence[TopicPartition]) -> None:
        self._paused.update((tp.topic, tp.partition) for tp in partitions)

    def resume(self, partitions: Sequence[TopicPartition]) -> None:
        self._paused.difference_update((tp.topic, tp.partition) for tp in partitions)

    def seek(self, tp: TopicPartition) -> None:
        self._positions[(tp.topic, tp.partition)] = tp.offset

    def position(self, partitions: Sequence[TopicPartition]) -> list[TopicPartition]:
        return [
            TopicPartition(tp.topic, tp.partition, self._positions.get((tp.topic, tp.partition), -1))
            for tp in partitions
        ]

    def get_watermark_offsets(self, tp: TopicPartition, **_: Any) -> tuple[int, int]:
        return 0, len(self.broker.log(tp.topic)[tp.partition])

    def close(self) -> None:
        if not self.closed:
            self.commit()
            self.closed = True


def in_memory_outputs(
    *,
    agent: str = "test-agent",
    dead_letter_topic: str = "dead-letters",
    producer: InMemoryProducer | None = None,
) -> tuple[Outputs, InMemoryProducer]:
    """The runtime's outputs for one batch, on ``producer`` (a new one if None): what the processor
    produces and what it dead-letters (to ``dead_letter_topic``) are in ``producer.topics``."""
    from alstream.streams.batch_loop import Outputs
    from alstream.streams.dead_letters import DeadLetterSink

    producer = producer if producer is not None else InMemoryProducer()
    kafka_producer = cast("Producer", producer)  # quacks like one: the parts Outputs uses
    sink = DeadLetterSink(producer=kafka_producer, topic=dead_letter_topic, agent=agent)
    return Outputs(producer=kafka_producer, dead_letters=sink), producer


def in_memory_runner(
    *,
    broker: InMemoryBroker,
    processor: BatchProcessor,
    topics: Sequence[str],
    group_id: str = "test-group",
    agent: str = "test-agent",
    topic_prefix: str = "",
    batch_size: int = 100,
    max_attempts: int = 3,
    between_batches: Callable[[], None] | None = None,
) -> BatchAgentRunner:
    """The runtime's batch loop over an :class:`InMemoryBroker` (topic names are used as given; dead
    letters go to ``<topic_prefix>dead-letters``)."""
    from alstream.streams.batch_loop import BatchAgentRunner
    from alstream.streams.config import KafkaSettings, StreamsSettings

    kafka = KafkaSettings(bootstrap_servers=f"in-memory-{id(broker)}", topic_prefix=topic_prefix)
    return BatchAgentRunner(
        agent=agent,
        settings=StreamsSettings(kafka=kafka),
        topics=list(topics),
        group_id=group_id,
        processor=processor,
        batch_size=batch_size,
        poll_timeout_s=0.0,
        delivery_timeout_s=0.0,
        lag_interval_s=3600.0,
        max_attempts=max_attempts,
        between_batches=between_batches,
        consumer=broker.consumer(group_id),
        producer=broker.producer(),
    )
