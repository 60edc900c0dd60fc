"""The ingestion SDK's producer: validate, encode and produce items to the items topic.

Guarantees a producer team can rely on:

* nothing invalid is sent: every refused item comes back as a :class:`Rejection` with a reason
  (and counts in ``alstream_ingest_items_rejected_total{reason}``);
* nothing is lost silently: the Kafka producer is idempotent (no duplicates or reordering on
  retries), and :meth:`ItemProducer.flush` returns how many items the broker acknowledged and which
  ones it did not;
* memory is bounded: when librdkafka's queue is full the producer serves delivery reports and
  waits (back-pressure) instead of buffering without limit.

Delivery reports are requested for failures only (``delivery.report.only.error``): acknowledged
items are counted as ``produced - failed - still queued``, which is exact and avoids a Python
callback per item on the hot path.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import numpy as np
from confluent_kafka import KafkaError, KafkaException, Producer

from alstream.ingest.exceptions import TopicUnavailable
from alstream.ingest.metrics import ITEMS_REJECTED, ITEMS_SENT
from alstream.ingest.reasons import DeliveryFailure, Rejection
from alstream.ingest.validation import ItemValidator, PreparedBatch
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import RecordCodec, codec_for
from alstream.streams.item_wire import ItemEncoder
from alstream.streams.kafka_config import producer_config

# Producer tuning for throughput; idempotence comes from kafka_config.PRODUCER_DEFAULTS.
INGEST_PRODUCER_OVERRIDES: dict[str, Any] = {
    "linger.ms": 20,
    "batch.num.messages": 10_000,
    "batch.size": 4 * 1024 * 1024,
    "delivery.report.only.error": True,
}


def ingest_producer_config(settings: AlstreamSettings, **extra: Any) -> dict[str, Any]:
    """The confluent-kafka client configuration :class:`ItemProducer` uses: the cluster and security
    settings, idempotence, :data:`INGEST_PRODUCER_OVERRIDES` and the bounded queue
    (``ingest.max_in_flight_messages``), then ``extra`` (e.g. ``on_delivery``) over all of them."""
    return producer_config(
        settings,
        **{
            **INGEST_PRODUCER_OVERRIDES,
            "queue.buffering.max.messages": settings.ingest.max_in_flight_messages,
            **extra,
        },
    )


# How long one back-pressure wait lasts. Short: with failure-only delivery reports a poll has
# nothing to return early for, so it sleeps the whole timeout while the queue drains.
BACK_PRESSURE_WAIT_S = 0.005


@dataclass
class DeliveryReport:
    """Outcome of everything produced so far, as known after a flush."""

    produced: int  # items handed to the Kafka client
    acknowledged: int  # of those, acknowledged by the broker
    pending: int  # still queued or in flight (non-zero only if the flush deadline passed)
    failures: list[DeliveryFailure] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.pending == 0 and not self.failures


class ItemProducer:
    """Validates items and produces them to the items topic, keyed by ``item_id``.

    ``send`` / ``send_many`` take dict items; ``send_columns`` takes arrays and is the fastest path.
    All return the rejections; call :meth:`flush` (or use the producer as a context manager, which
    flushes on exit) to learn what the broker acknowledged.
    """

    def __init__(
        self,
        *,
        settings: AlstreamSettings,
        default_source: str | None = None,
        producer: Any | None = None,
        codec: RecordCodec | None = None,
        chunk_size: int = 10_000,
        producer_overrides: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.topic = settings.kafka.topic("items")
        self.validator = ItemValidator(settings=settings, default_source=default_source)
        self.encoder = ItemEncoder(codec=codec or codec_for("items", settings))
        self.queue_limit = settings.ingest.max_in_flight_messages
        self.chunk_size = max(1, min(chunk_size, self.queue_limit // 2))
        if producer is None:
            # producer_overrides win over everything, on_delivery included
            # (merged first: no duplicate keyword)
            conf = ingest_producer_config(
                settings, **{"on_delivery": self._on_delivery, **(producer_overrides or {})}
            )
            producer = Producer(conf)
            self._per_message_callback = False
        else:  # an injected client (tests): ask for a report per message, count only failures
            self._per_message_callback = True
        self._producer = producer
        self.produced = 0
        self._failures: list[DeliveryFailure] = []
        self._acknowledged_reported = 0

    # ---- sending -----------------------------------------------------------------------------------

    def check_topic(self, timeout_s: float = 10.0) -> None:
        """Ask the cluster for the items topic now, and raise :class:`TopicUnavailable` if it does not
        answer or the topic is missing.

        Why: the client connects lazily, so an unreachable or misnamed cluster otherwise only shows
        as items that stay pending until a flush deadline. A long-running producer calls this at start.
        It also leaves the client connected, so the first items are not sent while it connects.
        """
        try:
            # all topics, not this one by name: naming it would let brokers that auto-create topics
            # create it (with the wrong partition count) instead of reporting it missing
            metadata = self._producer.list_topics(timeout=timeout_s)
        except KafkaException as exc:
            raise TopicUnavailable(
                f"the cluster at {self.settings.kafka.bootstrap_servers} "
                f"did not answer within {timeout_s:g}s "
                f"({exc}): check KAFKA_BOOTSTRAP_SERVERS and the ALSTREAM_KAFKA__* security settings"
            ) from exc
        described = metadata.topics.get(self.topic)
        if described is None or described.error is not None or not described.partitions:
            reason = described.error if described is not None and described.error is not None else "missing"
            raise TopicUnavailable(
                f"topic {self.topic} is not available ({reason}): create the catalogue with "
                "`alstream topics create`, or check ALSTREAM_KAFKA__TOPIC_PREFIX"
            )

    def send(self, item: Mapping[str, Any]) -> Rejection | None:
        """Validate and produce one item; returns its rejection, or None when it was queued."""
        rejections = self.send_many([item])
        return rejections[0] if rejections else None

    def send_many(self, items: Sequence[Any], *, first_index: int = 0) -> list[Rejection]:
        """Validate and produce dict items; returns the rejected ones (``index`` from ``first_index``)."""
        rejections: list[Rejection] = []
        for start in range(0, len(items), self.chunk_size):
            chunk = items[start : start + self.chunk_size]
            batch = self.validator.prepare_records(chunk, first_index=first_index + start)
            rejections.extend(self._send_prepared(batch))
        return rejections

    def send_columns(
        self,
        *,
        item_ids: Sequence[str],
        embeddings: np.ndarray,
        first_index: int = 0,
        **columns: Any,
    ) -> list[Rejection]:
        """Validate and produce items given as columns (see :meth:`ItemValidator.prepare_columns`)."""
        rejections: list[Rejection] = []
        n = len(item_ids)
        for start in range(0, n, self.chunk_size):
            stop = min(n, start + self.chunk_size)
            sliced = {
                name: value[start:stop] if _is_column(value, n) else value for name, value in columns.items()
            }
            batch = self.validator.prepare_columns(
                item_ids=item_ids[start:stop],
                embeddings=embeddings[start:stop],
                first_index=first_index + start,
                **sliced,
            )
            rejections.extend(self._send_prepared(batch))
        return rejections

    def _send_prepared(self, batch: PreparedBatch) -> list[Rejection]:
        for rejection in batch.rejections:
            ITEMS_REJECTED.labels(rejection.reason).inc()
        if len(batch):
            values = self.encoder.encode(batch)
            self._produce(batch.item_ids, values)
        return batch.rejections

    def _produce(self, item_ids: list[str], values: list[bytes]) -> None:
        producer = self._producer
        topic = self.topic
        n = len(values)
        # back-pressure: never ask librdkafka to hold more than its bounded queue
        while len(producer) + n > self.queue_limit and len(producer):
            producer.poll(BACK_PRESSURE_WAIT_S)
        produce = producer.produce
        self.produced += n  # each item below ends up queued or in the failures
        start = index = 0
        while start < n:
            try:
                if self._per_message_callback:
                    for index in range(start, n):
                        produce(topic, values[index], item_ids[index], on_delivery=self._on_delivery)
                else:  # delivery reports for failures come through the client-level on_delivery
                    for index in range(start, n):
                        produce(topic, values[index], item_ids[index])
                start = n
            except BufferError:  # queue full after all: serve delivery reports, resume at this item
                start = index
                producer.poll(BACK_PRESSURE_WAIT_S)
            except KafkaException as exc:  # refused by the client itself (e.g. larger than message.max.bytes)
                self._failures.append(DeliveryFailure(item_id=item_ids[index], error=str(exc)))
                start = index + 1
        producer.poll(0)
        self._report_acknowledged()

    # ---- delivery ----------------------------------------------------------------------------------

    def _on_delivery(self, error: KafkaError | None, message: Any) -> None:
        if error is not None:
            key = message.key()
            item_id = key.decode(errors="replace") if isinstance(key, bytes) else str(key)
            self._failures.append(DeliveryFailure(item_id=item_id, error=str(error)))

    @property
    def acknowledged(self) -> int:
        """Items the broker acknowledged so far (exact once the queue is empty)."""
        return self.produced - len(self._failures) - len(self._producer)

    def _report_acknowledged(self) -> None:
        acknowledged = self.acknowledged
        if acknowledged > self._acknowledged_reported:
            ITEMS_SENT.inc(acknowledged - self._acknowledged_reported)
            self._acknowledged_reported = acknowledged

    def poll(self, timeout_s: float = 0) -> None:
        """Serve delivery reports (call now and then if you produce slowly)."""
        self._producer.poll(timeout_s)
        self._report_acknowledged()

    def flush(self, timeout_s: float | None = None) -> DeliveryReport:
        """Wait until every queued item is acknowledged or failed (or ``timeout_s`` passes)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while len(self._producer):
            remaining = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
            if remaining <= 0:
                break
            self._producer.flush(remaining)
        self._producer.poll(0)
        self._report_acknowledged()
        return DeliveryReport(
            produced=self.produced,
            acknowledged=self.acknowledged,
            pending=len(self._producer),
            failures=list(self._failures),
        )

    def close(self, timeout_s: float = 30.0) -> DeliveryReport:
        """Flush (up to ``timeout_s``), then release the Kafka client. Returns the final report.

        Items still unacknowledged at the deadline are purged from the client (they are in the
        report's ``pending``); the client is not kept reconnecting in the background.
        """
        report = self.flush(timeout_s)
        if report.pending and hasattr(self._producer, "purge"):
            self._producer.purge()
            self._producer.flush(1.0)
        if hasattr(self._producer, "close"):
            self._producer.close()
        return report

    def __len__(self) -> int:
        """Items queued or in flight."""
        return len(self._producer)

    def __enter__(self) -> ItemProducer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.flush()


def _is_column(value: Any, n: int) -> bool:
    return (
        not isinstance(value, (str, bytes, int, float))
        and value is not None
        and hasattr(value, "__len__")
        and len(value) == n
    )
