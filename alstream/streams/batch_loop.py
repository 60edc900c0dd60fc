"""The poll / check error / process / deliver / store-offsets loop of confluent-kafka agents.

Used by high-volume agents (the scorer) and any agent that works in batches. The guarantees:

* at-least-once: a batch's offsets are stored only after every output it produced was delivered;
  if a delivery fails, the consumer seeks back and the batch is processed again (processors are
  idempotent by record ids);
* nothing is dropped: a record the processor cannot handle goes to dead letters via ``outputs``;
* it scales out as a consumer-group member over partitions.
"""

from __future__ import annotations

import collections
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from prometheus_client import Counter, Gauge, Histogram

from alstream.exceptions import AlstreamError
from alstream.observability.metrics import AGENT_ERRORS, AGENT_LAST_PROGRESS, AGENT_UP
from alstream.settings import AlstreamSettings
from alstream.streams.dead_letters import DeadLetterSink
from alstream.streams.kafka_config import consumer_config, producer_config
from alstream.streams.messages import Headers, coordinates

log = logging.getLogger(__name__)

RECORDS = Counter("alstream_agent_records_total", "Records consumed by an agent.", ["agent", "topic"])
BATCH_SECONDS = Histogram(
    "alstream_agent_batch_duration_seconds",
    "Time from a batch's arrival to its outputs being delivered.",
    ["agent"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LAG = Gauge(
    "alstream_consumer_lag_messages", "Messages not yet consumed, by agent and topic.", ["agent", "topic"]
)
REDELIVERIES = Counter(
    "alstream_agent_batch_retries_total", "Batches processed again after a failed delivery.", ["agent"]
)


class DeliveryFailed(AlstreamError):
    """Some output of a batch was not acknowledged by the broker."""


@dataclass
class Outputs:
    """What a processor may emit while handling a batch. Everything goes through one producer."""

    producer: Producer
    dead_letters: DeadLetterSink
    # False when the producer was built with ``on_delivery=outputs.on_delivery`` in its config: then
    # librdkafka needs no per-record callback object (~0.15 us per output on the scorer's hot path).
    callback_per_record: bool = True
    _failures: list[str] = field(default_factory=list)

    def on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._failures.append(f"{msg.topic()}: {err}")

    def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | str | None = None,
        headers: Sequence[tuple[str, str | bytes | None]] | None = None,
    ) -> None:
        wire: Headers | None = list(headers) if headers is not None else None
        while True:
            try:
                if self.callback_per_record:
                    self.producer.produce(
                        topic, value=value, key=key, headers=wire, on_delivery=self.on_delivery
                    )
                else:
                    self.producer.produce(topic, value=value, key=key, headers=wire)
                return
            except BufferError:  # local queue full: serve delivery reports, then retry (back-pressure)
                self.producer.poll(0.05)

    def produce_many(self, topic: str, keys: Sequence[bytes | str], values: Sequence[bytes]) -> None:
        """``produce`` for many records to one topic: the high-volume agents' output loop, one Python
        call per record (the client's) instead of two."""
        produce = self.producer.produce
        callback = self.on_delivery
        per_record = self.callback_per_record
        for key, value in zip(keys, values, strict=True):
            try:
                if per_record:
                    produce(topic, value, key, on_delivery=callback)
                else:
                    produce(topic, value, key)
            except BufferError:
                self.produce(topic, value=value, key=key)

    def dead_letter(self, message: Message, error: BaseException | str, text: str | None = None) -> None:
        topic, partition, offset = coordinates(message)
        self.dead_letters.send(
            key=message.key(),
            value=message.value(),
            source_topic=topic,
            partition=partition,
            offset=offset,
            error=error,
            message=text,
            on_delivery=self.on_delivery,
            headers=message.headers(),
        )

    def wait_delivered(self, timeout_s: float) -> None:
        remaining = self.producer.flush(timeout_s)
        failures, self._failures = self._failures, []
        if remaining:
            failures.append(f"{remaining} outputs still undelivered after {timeout_s}s")
        if failures:
            raise DeliveryFailed("; ".join(failures[:5]))


class BatchProcessor(Protocol):
    """An agent's logic. ``process`` handles one batch; ``on_idle`` runs when a poll returned nothing."""

    def process(self, messages: list[Message], outputs: Outputs) -> None: ...

    def on_idle(self, outputs: Outputs) -> None: ...


class StopFlag:
    """Set by SIGTERM / SIGINT (or by tests) to end the loop after the current batch."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def __bool__(self) -> bool:
        return self._event.is_set()

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: self.set())


class BatchAgentRunner:
    """Runs a :class:`BatchProcessor` over topics as a member of a consumer group."""

    def __init__(
        self,
        *,
        agent: str,
        settings: AlstreamSettings,
        topics: list[str],
        group_id: str,
        processor: BatchProcessor,
        batch_size: int = 5_000,
        poll_timeout_s: float = 0.1,
        delivery_timeout_s: float = 30.0,
        lag_interval_s: float = 10.0,
        consumer_overrides: dict[str, Any] | None = None,
        producer_overrides: dict[str, Any] | None = None,
        on_assign: Callable[[list[TopicPartition]], None] | None = None,
        on_revoke: Callable[[list[TopicPartition]], None] | None = None,
    ) -> None:
        self.agent = agent
        self.topics = topics
        self.processor = processor
        self.batch_size = batch_size
        self.poll_timeout_s = poll_timeout_s
        self.delivery_timeout_s = delivery_timeout_s
        self.lag_interval_s = lag_interval_s
        self._user_on_assign = on_assign
        self._user_on_revoke = on_revoke
        self.consumer = Consumer(consumer_config(settings, group_id=group_id, **(consumer_overrides or {})))
        # Outputs only records failed deliveries, so librdkafka need not call back into Python for the
        # successful ones (~1 us of GIL time per output on the scorer's hot path), and the callback is
        # the producer's, not one per record.
        self.producer = Producer(
            producer_config(
                settings,
                **{
                    "delivery.report.only.error": True,
                    "on_delivery": self._on_delivery,
                    **(producer_overrides or {}),
                },
            )
        )
        self.outputs = Outputs(
            producer=self.producer,
            dead_letters=DeadLetterSink(
                producer=self.producer, topic=settings.kafka.topic("dead-letters"), agent=agent
            ),
            callback_per_record=False,
        )
        self.assignment: list[TopicPartition] = []
        self._last_lag_check = 0.0

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        self.outputs.on_delivery(err, msg)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assignment = list(partitions)
        if self._user_on_assign:
            self._user_on_assign(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self._user_on_revoke:
            self._user_on_revoke(partitions)
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exc:  # nothing stored yet is fine
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                log.warning("%s: commit on revoke failed: %s", self.agent, exc)
        self.assignment = []

    def run(self, stop: StopFlag, *, max_batches: int | None = None) -> None:
        """Process until ``stop`` is set (or ``max_batches`` batches, for tests)."""
        self.consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke)
        AGENT_UP.labels(self.agent).set(1)
        batches = 0
        try:
            while not stop and (max_batches is None or batches < max_batches):
                messages = self.consumer.consume(self.batch_size, self.poll_timeout_s)
                good = self._without_errors(messages)
                started = time.perf_counter()
                try:
                    if good:
                        self.processor.process(good, self.outputs)
                    else:
                        self.processor.on_idle(self.outputs)
                    self.outputs.wait_delivered(self.delivery_timeout_s)
                except DeliveryFailed as exc:
                    self._replay(good, exc)
                    continue
                if good:
                    self._store_offsets(good)
                    BATCH_SECONDS.labels(self.agent).observe(time.perf_counter() - started)
                    batches += 1
                AGENT_LAST_PROGRESS.labels(self.agent).set(time.time())
                self._maybe_report_lag()
        finally:
            AGENT_UP.labels(self.agent).set(0)
            self.close()

    def _without_errors(self, messages: list[Message]) -> list[Message]:
        good = []
        for message in messages:
            error = message.error()
            if error is None:
                good.append(message)
            elif error.code() != KafkaError._PARTITION_EOF:
                AGENT_ERRORS.labels(self.agent, error.name()).inc()
                log.warning("%s: consumer error %s", self.agent, error)
                if error.fatal():
                    raise KafkaException(error)
        # Counted once per batch and topic: a labelled-counter increment per message was ~20% of the
        # scorer's time.
        counts = collections.Counter(message.topic() for message in good)  # prometheus_client owns `Counter`
        for topic, count in counts.items():
            RECORDS.labels(self.agent, topic).inc(count)
        return good

    def _store_offsets(self, messages: list[Message]) -> None:
        """Last offset + 1 per partition: a consumer returns each partition's messages in offset order."""
        last = {(topic, partition): offset for topic, partition, offset in map(coordinates, messages)}
        self.consumer.store_offsets(offsets=[TopicPartition(t, p, o + 1) for (t, p), o in last.items()])

    def _replay(self, messages: list[Message], exc: DeliveryFailed) -> None:
        """Seek back to the failed batch's first offsets so it is processed again."""
        AGENT_ERRORS.labels(self.agent, "DeliveryFailed").inc()
        REDELIVERIES.labels(self.agent).inc()
        log.warning("%s: delivery failed, processing the batch again: %s", self.agent, exc)
        earliest: dict[tuple[str, int], int] = {}
        for topic, partition, offset in map(coordinates, messages):
            earliest[(topic, partition)] = min(earliest.get((topic, partition), offset), offset)
        for (topic, partition), offset in earliest.items():
            try:
                self.consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as seek_error:  # partition revoked meanwhile: its new owner replays
                log.warning("%s: seek failed: %s", self.agent, seek_error)
        time.sleep(0.5)

    def _maybe_report_lag(self) -> None:
        now = time.monotonic()
        if now - self._last_lag_check < self.lag_interval_s or not self.assignment:
            return
        self._last_lag_check = now
        totals: dict[str, int] = {}
        try:
            positions = self.consumer.position(self.assignment)
            for tp in positions:
                # The high watermark the last fetch returned: authoritative, and free (no broker
                # round trip). Some Kafka-compatible brokers (Tansu 0.6) under-report ListOffsets.
                _, high = self.consumer.get_watermark_offsets(tp, cached=True)
                if high < 0:
                    continue
                behind = high - tp.offset if tp.offset >= 0 else 0
                totals[tp.topic] = totals.get(tp.topic, 0) + max(0, behind)
        except KafkaException as exc:
            log.debug("%s: lag check failed: %s", self.agent, exc)
            return
        for topic, behind in totals.items():
            LAG.labels(self.agent, topic).set(behind)

    def close(self) -> None:
        try:
            self.producer.flush(self.delivery_timeout_s)
        finally:
            self.consumer.close()
