"""The poll / process / deliver / store-offsets loop of confluent-kafka agents, with the poison-pill rule.

Used by every agent that works in batches (scorer, labels, agreement, trainer), inside the agent
runtime (:mod:`alstream.streams.runtime`). The guarantees:

* at-least-once: a batch's offsets are stored only after every output it produced was delivered;
  processors are idempotent by record ids, so processing a batch again is harmless;
* the environment is waited out: while the broker does not acknowledge outputs, or a processor raises
  :class:`~alstream.streams.exceptions.RetryLater` (or a transient broker error), the same batch is
  processed again with backoff, without limit, and the consumer keeps its group membership;
* no record stops the loop (the poison-pill rule): any other exception, of any type, counts as an
  attempt; after ``max_attempts`` the batch is bisected until the record(s) that fail alone are
  found, those are dead-lettered, and the rest is processed and delivered as usual;
* it scales out as a consumer-group member over partitions.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from prometheus_client import Counter, Gauge, Histogram

from alstream.observability.metrics import AGENT_ERRORS, AGENT_LAST_PROGRESS, AGENT_UP, RECORD_RETRIES
from alstream.streams.availability import (
    BrokerHealth,
    backoff_delays,
    health_for,
    is_transient,
    is_transient_error,
)
from alstream.streams.config import HasKafka, kafka_of
from alstream.streams.dead_letters import DeadLetterSink
from alstream.streams.exceptions import DeliveryFailed, StreamsError
from alstream.streams.kafka_config import consumer_config, producer_config
from alstream.streams.messages import Headers, coordinates
from alstream.streams.stopping import StopFlag

__all__ = ["BatchAgentRunner", "BatchProcessor", "DeliveryFailed", "Outputs", "StopFlag"]

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
    "alstream_agent_batch_retries_total",
    "Batches processed again because the broker did not acknowledge their outputs, or a processor "
    "asked to retry later.",
    ["agent"],
)
# How long the broker may leave outputs unacknowledged, with no progress, before the agent counts it
# as an outage (short waits are normal under load).
STALL_S = 10.0


class DeliveryRefused(StreamsError):
    """The broker refused an output for good (too large, not authorised): processing the same record
    again cannot help, so it counts against the record."""


class _Stopped(Exception):
    """The stop flag was set while a batch waited: leave without storing its offsets."""


@dataclass
class Outputs:
    """What a processor may emit while handling a batch. Everything goes through one producer."""

    producer: Producer
    dead_letters: DeadLetterSink
    # False when the producer was built with ``on_delivery=outputs.on_delivery`` in its config: then
    # librdkafka needs no per-record callback object (one per output adds up on the scorer's hot path).
    callback_per_record: bool = True
    _failures: list[KafkaError | str] = field(default_factory=list)

    def on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self._failures.append(err)

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
        self.dead_letters.send_message(message, error, text, on_delivery=self.on_delivery)

    def take_failures(self) -> list[KafkaError | str]:
        failures, self._failures = self._failures, []
        return failures

    def wait_delivered(self, timeout_s: float) -> None:
        """Flush with a deadline and raise :class:`DeliveryFailed` for anything not acknowledged (for
        callers outside the runner; the runner itself waits out outages instead)."""
        remaining = self.producer.flush(timeout_s)
        failures: list[Any] = list(self.take_failures())
        if remaining:
            failures.append(f"{remaining} outputs still undelivered after {timeout_s}s")
        if failures:
            raise DeliveryFailed("; ".join(str(f) for f in failures[:5]))


class BatchProcessor(Protocol):
    """An agent's logic. ``process`` handles one batch; ``on_idle`` runs when a poll returned nothing."""

    def process(self, messages: list[Message], outputs: Outputs) -> None: ...

    def on_idle(self, outputs: Outputs) -> None: ...


class BatchAgentRunner:
    """Runs a :class:`BatchProcessor` over topics as a member of a consumer group."""

    def __init__(
        self,
        *,
        agent: str,
        settings: HasKafka,
        topics: list[str],
        group_id: str,
        processor: BatchProcessor,
        batch_size: int = 5_000,
        poll_timeout_s: float = 0.1,
        delivery_timeout_s: float = 30.0,
        lag_interval_s: float = 10.0,
        max_attempts: int = 3,
        consumer_overrides: dict[str, Any] | None = None,
        producer_overrides: dict[str, Any] | None = None,
        on_assign: Callable[[list[TopicPartition]], None] | None = None,
        on_revoke: Callable[[list[TopicPartition]], None] | None = None,
        between_batches: Callable[[], None] | None = None,
        consumer: Any | None = None,
        producer: Any | None = None,
    ) -> None:
        """``consumer`` / ``producer`` replace the confluent-kafka clients (the in-memory ones of
        :mod:`alstream.streams.testing`, for unit tests); ``delivery_timeout_s`` bounds the final flush
        at shutdown; ``between_batches`` runs before every poll (the runtime's side readers and idle
        callbacks)."""
        kafka = kafka_of(settings)
        self.agent = agent
        self.topics = topics
        self.processor = processor
        self.batch_size = batch_size
        self.poll_timeout_s = poll_timeout_s
        self.delivery_timeout_s = delivery_timeout_s
        self.lag_interval_s = lag_interval_s
        self.max_attempts = max(1, max_attempts)
        self.health: BrokerHealth = health_for(agent, kafka)
        self._user_on_assign = on_assign
        self._user_on_revoke = on_revoke
        self._between_batches = between_batches
        self.consumer = (
            consumer
            if consumer is not None
            else Consumer(consumer_config(kafka, group_id=group_id, **(consumer_overrides or {})))
        )
        # Outputs only records failed deliveries, so librdkafka need not call back into Python (taking
        # the GIL) for the successful ones on the scorer's hot path, and the callback is the
        # producer's, not one per record.
        self.producer = (
            producer
            if producer is not None
            else Producer(
                producer_config(
                    kafka,
                    **{
                        "delivery.report.only.error": True,
                        "on_delivery": self._on_delivery,
                        **(producer_overrides or {}),
                    },
                )
            )
        )
        self.outputs = Outputs(
            producer=self.producer,
            dead_letters=DeadLetterSink(
                producer=self.producer,
                topic=kafka.topic("dead-letters"),
                agent=agent,
                max_bytes=kafka.max_message_bytes,
            ),
            callback_per_record=producer is not None,
        )
        self.assignment: list[TopicPartition] = []
        self._last_lag_check = 0.0
        self._stop: StopFlag = StopFlag()

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        self.outputs.on_delivery(err, msg)

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self.assignment = list(partitions)
        if self._user_on_assign:
            self._guarded("on_assign", self._user_on_assign, partitions)

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        if self._user_on_revoke:
            self._guarded("on_revoke", self._user_on_revoke, partitions)
        try:
            consumer.commit(asynchronous=False)
        except KafkaException as exc:  # nothing stored yet is fine; an outage is logged
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                log.warning("%s: commit on revoke failed: %s", self.agent, exc)
        self.assignment = []

    def _guarded(self, what: str, callback: Callable[..., None], *args: Any) -> None:
        try:
            callback(*args)
        except Exception as exc:
            AGENT_ERRORS.labels(self.agent, type(exc).__name__).inc()
            log.exception("%s: %s failed: %s", self.agent, what, exc)

    # -- the loop ---------------------------------------------------------------------------------

    def run(self, stop: StopFlag, *, max_batches: int | None = None) -> None:
        """Process until ``stop`` is set (or ``max_batches`` batches, for tests)."""
        self._stop = stop
        self.consumer.subscribe(self.topics, on_assign=self._on_assign, on_revoke=self._on_revoke)
        AGENT_UP.labels(self.agent).set(1)
        batches = 0
        try:
            while not stop and (max_batches is None or batches < max_batches):
                if self._between_batches is not None:
                    self._between_batches()
                messages = self.consumer.consume(self.batch_size, self.poll_timeout_s)
                good = self._without_errors(messages)
                started = time.perf_counter()
                if good:
                    try:
                        self._handle(good)
                    except _Stopped:
                        break
                    self._store_offsets(good)
                    BATCH_SECONDS.labels(self.agent).observe(time.perf_counter() - started)
                    batches += 1
                else:
                    try:
                        self._idle()
                    except _Stopped:
                        break
                AGENT_LAST_PROGRESS.labels(self.agent).set(time.time())
                self._maybe_report_lag()
        finally:
            AGENT_UP.labels(self.agent).set(0)
            self.close()

    def _attempt(self, work: Callable[[Outputs], None]) -> Exception | None:
        """Run ``work`` (processing records, or idle work) and deliver its outputs; returns what it
        raised, if anything (a stop propagates). Every exception type is judged by the caller's rules,
        none escapes them."""
        try:
            work(self.outputs)
            self._deliver()
        except _Stopped:
            raise
        except Exception as exc:  # noqa: BLE001 - the poison-pill rule covers any exception type
            return exc
        return None

    def _handle(self, batch: list[Message]) -> None:
        """Process and deliver ``batch``: retried while the environment fails, isolated when records do."""
        attempts = 0
        delays = backoff_delays()
        while (failure := self._attempt(lambda outputs: self.processor.process(batch, outputs))) is not None:
            if is_transient(failure):
                self._wait_out(failure, delays())
                continue
            attempts += 1
            RECORD_RETRIES.labels(self.agent, type(failure).__name__).inc()
            if attempts < self.max_attempts:
                log.warning(
                    "%s: processing a batch of %d failed (attempt %d of %d): %s: %s",
                    self.agent,
                    len(batch),
                    attempts,
                    self.max_attempts,
                    type(failure).__name__,
                    failure,
                )
                self._keep_alive(delays())
                continue
            log.error(
                "%s: a batch of %d failed %d times (%s: %s); isolating the records that fail",
                self.agent,
                len(batch),
                attempts,
                type(failure).__name__,
                failure,
                exc_info=failure,
            )
            trouble = self._isolate(batch)
            if trouble is None:
                return
            self._wait_out(trouble, delays())  # the environment failed meanwhile: start over

    def _isolate(self, part: list[Message]) -> Exception | None:
        """Process ``part``; when it fails, its halves, down to single records, which are dead-lettered.

        Each piece's outputs are delivered before the next piece, so a refused output is blamed on the
        piece that produced it. Returns a transient failure (the whole batch is then retried)."""
        if self._stop:
            raise _Stopped
        failure = self._attempt(lambda outputs: self.processor.process(part, outputs))
        if failure is None or is_transient(failure):
            return failure
        if len(part) > 1:
            middle = len(part) // 2
            return self._isolate(part[:middle]) or self._isolate(part[middle:])
        message = part[0]
        RECORD_RETRIES.labels(self.agent, type(failure).__name__).inc()
        log.error(
            "%s: dead-lettering %s[%s]@%s after %d attempts: %s: %s",
            self.agent,
            message.topic(),
            message.partition(),
            message.offset(),
            self.max_attempts + 1,
            type(failure).__name__,
            failure,
        )
        self.outputs.dead_letter(message, failure, f"{type(failure).__name__}: {failure}")
        try:
            self._deliver()
        except DeliveryRefused as refused:  # the dead letter itself was refused: say so, move on
            AGENT_ERRORS.labels(self.agent, "DeadLetterRefused").inc()
            log.error(
                "%s: the dead letter of %s[%s]@%s was refused (%s); the record stays at its coordinates only",
                self.agent,
                message.topic(),
                message.partition(),
                message.offset(),
                refused,
            )
        except DeliveryFailed as failed:
            return failed
        return None

    def _idle(self) -> None:
        delays = backoff_delays()
        while (failure := self._attempt(self.processor.on_idle)) is not None:
            if is_transient(failure):
                self._wait_out(failure, delays())
                continue
            # no record to blame: count it, say it, and carry on with the next poll
            AGENT_ERRORS.labels(self.agent, type(failure).__name__).inc()
            log.error(
                "%s: idle work failed: %s: %s", self.agent, type(failure).__name__, failure, exc_info=failure
            )
            return

    def _deliver(self) -> None:
        """Wait until every output was acknowledged or refused, however long the broker takes.

        Raises :class:`DeliveryFailed` (transient: retry) or :class:`DeliveryRefused` (for good)."""
        remaining = self.producer.flush(0) if len(self.producer) else 0
        best = remaining
        since = time.monotonic()
        while remaining:
            remaining = self.producer.flush(1.0)
            now = time.monotonic()
            if remaining < best:
                best, since = remaining, now
            elif now - since >= STALL_S:
                self.health.failed("deliver outputs", f"{remaining} outputs not acknowledged")
                self._keep_alive(0.0)
            if self._stop and remaining:
                raise _Stopped
        failures = self.outputs.take_failures()
        if failures:
            if any(isinstance(f, KafkaError) and not is_transient_error(f) for f in failures):
                raise DeliveryRefused("; ".join(str(f) for f in failures[:5]))
            raise DeliveryFailed("; ".join(str(f) for f in failures[:5]))
        if self.health.down_since is not None:
            self.health.ok()

    def _wait_out(self, exc: BaseException, delay_s: float) -> None:
        """The environment failed: count it, say it, keep the group membership, then try again."""
        AGENT_ERRORS.labels(self.agent, type(exc).__name__).inc()
        REDELIVERIES.labels(self.agent).inc()
        if isinstance(exc, (DeliveryFailed, KafkaException)):
            self.health.failed("process a batch", exc)
        else:
            log.warning(
                "%s: retrying the batch in %.1fs: %s: %s", self.agent, delay_s, type(exc).__name__, exc
            )
        self._keep_alive(delay_s)

    def _keep_alive(self, seconds: float) -> None:
        """Sleep ``seconds`` while serving the consumer (heartbeats, rebalances, the poll interval)
        without taking new records: its partitions are paused meanwhile."""
        paused = list(self.assignment)
        if paused:
            try:
                self.consumer.pause(paused)
            except KafkaException:
                paused = []
        end = time.monotonic() + seconds
        try:
            while True:
                message = self.consumer.poll(
                    0.0 if seconds <= 0 else min(0.2, max(0.0, end - time.monotonic()))
                )
                if message is not None and message.error() is None:
                    # a partition assigned meanwhile is not paused: give its record back
                    topic, partition, offset = coordinates(message)
                    try:
                        self.consumer.seek(TopicPartition(topic, partition, offset))
                    except KafkaException as exc:
                        log.debug("%s: seek back failed: %s", self.agent, exc)
                if self._stop:
                    raise _Stopped
                if time.monotonic() >= end:
                    return
        finally:
            if paused:
                try:
                    self.consumer.resume(paused)
                except KafkaException as exc:  # revoked meanwhile: nothing to resume
                    log.debug("%s: resume failed: %s", self.agent, exc)

    def _without_errors(self, messages: list[Message]) -> list[Message]:
        good = []
        for message in messages:
            error = message.error()
            if error is None:
                good.append(message)
            elif error.code() != KafkaError._PARTITION_EOF:
                AGENT_ERRORS.labels(self.agent, error.name()).inc()
                if error.fatal():
                    raise KafkaException(error)
                if is_transient_error(error):
                    self.health.failed("consume", error)
                else:
                    log.warning("%s: consumer error %s", self.agent, error)
        if good and self.health.down_since is not None:
            self.health.ok()
        # Counted once per batch and topic: a labelled-counter increment per message was ~20% of the
        # scorer's time.
        counts = collections.Counter(message.topic() for message in good)  # prometheus_client owns `Counter`
        for topic, count in counts.items():
            RECORDS.labels(self.agent, topic).inc(count)
        return good

    def _store_offsets(self, messages: list[Message]) -> None:
        """Last offset + 1 per partition: a consumer returns each partition's messages in offset order."""
        last = {(topic, partition): offset for topic, partition, offset in map(coordinates, messages)}
        try:
            self.consumer.store_offsets(offsets=[TopicPartition(t, p, o + 1) for (t, p), o in last.items()])
        except KafkaException as exc:  # revoked while the batch waited: its new owner processes it again
            log.info("%s: offsets not stored (%s); the partitions' new owner replays them", self.agent, exc)

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
        except (KafkaException, NotImplementedError) as exc:
            log.debug("%s: lag check failed: %s", self.agent, exc)
            return
        for topic, behind in totals.items():
            LAG.labels(self.agent, topic).set(behind)

    def close(self) -> None:
        try:
            left = self.producer.flush(self.delivery_timeout_s)
            if left:
                log.warning(
                    "%s: %d outputs unacknowledged at shutdown; their batches will be replayed",
                    self.agent,
                    left,
                )
        finally:
            self.consumer.close()
