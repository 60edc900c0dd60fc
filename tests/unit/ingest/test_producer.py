"""ItemProducer without a broker: rejections and metrics, back-pressure, delivery accounting."""

from __future__ import annotations

from typing import Any

import numpy as np
from prometheus_client import REGISTRY

from alstream.ingest import ItemProducer
from alstream.ingest import reasons as R
from alstream.settings import load_settings
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.testing import InMemoryMessage, InMemoryProducer

SETTINGS = load_settings(
    kafka={"bootstrap_servers": "unused:9092", "topic_prefix": "u."}, ingest={"embedding_dim": 4}
)


def item(i: int, **changes: Any) -> dict[str, Any]:
    return {"item_id": f"item-{i}", "source": "cam", "embedding": [float(i)] * 4, **changes}


def rejected_count(reason: str) -> float:
    return REGISTRY.get_sample_value("alstream_ingest_items_rejected_total", {"reason": reason}) or 0.0


def sent_count() -> float:
    return REGISTRY.get_sample_value("alstream_ingest_items_sent_total") or 0.0


def test_valid_items_are_produced_keyed_by_id_and_invalid_ones_returned() -> None:
    fake = InMemoryProducer()
    producer = ItemProducer(settings=SETTINGS, producer=fake)
    before_rejected, before_sent = rejected_count(R.EMBEDDING_DIM), sent_count()
    rejections = producer.send_many([item(0), item(1, embedding=[1.0]), item(2)])
    assert [(r.index, r.item_id, r.reason) for r in rejections] == [(1, "item-1", R.EMBEDDING_DIM)]
    report = producer.flush(5)
    assert report.complete and report.produced == 2 and report.acknowledged == 2
    messages = fake.topics["u.items"]
    assert [m.key() for m in messages] == [b"item-0", b"item-2"]
    decoded = SingleObjectCodec("items", raw_timestamps=True).decode(messages[1].value())
    assert decoded["embedding"] == np.full(4, 2.0, dtype="<f4").tobytes()
    assert rejected_count(R.EMBEDDING_DIM) == before_rejected + 1
    assert sent_count() == before_sent + 2
    assert producer.send(item(3)) is None
    assert producer.send(item(4, source=None)).reason == R.MISSING_FIELD  # type: ignore[union-attr]


def test_send_columns_chunks_and_indexes_across_chunks() -> None:
    fake = InMemoryProducer()
    producer = ItemProducer(settings=SETTINGS, producer=fake, chunk_size=3)
    embeddings = np.ones((8, 4))
    embeddings[6, 0] = np.inf
    sources = ["cam"] * 8
    rejections = producer.send_columns(
        item_ids=[f"c{i}" for i in range(8)],
        embeddings=embeddings,
        source=sources,
        event_time_ms=np.arange(8),
    )
    assert [(r.index, r.reason) for r in rejections] == [(6, R.NOT_FINITE)]
    producer.flush(5)
    assert len(fake.topics["u.items"]) == 7


class QueueFullProducer(InMemoryProducer):
    """Raises BufferError while more than ``limit`` reports are unserved, like librdkafka's full queue."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.buffer_errors = 0

    def produce(self, topic: str, value: bytes | None = None, key: Any = None, **kwargs: Any) -> None:
        if len(self) >= self.limit:
            self.buffer_errors += 1
            raise BufferError("Local: Queue full")
        super().produce(topic, value=value, key=key, **kwargs)


def test_back_pressure_polls_and_retries_instead_of_dropping() -> None:
    fake = QueueFullProducer(limit=5)
    producer = ItemProducer(settings=SETTINGS, producer=fake)
    assert producer.send_many([item(i) for i in range(23)]) == []
    report = producer.flush(5)
    assert fake.buffer_errors > 0
    assert len(fake.topics["u.items"]) == 23
    assert report.complete and report.acknowledged == 23


class FailingProducer(InMemoryProducer):
    """Reports a delivery error for chosen keys."""

    def __init__(self, failing: set[bytes]) -> None:
        super().__init__(
            refuse=lambda message: "Broker: Not enough in-sync replicas" if message.key() in failing else None
        )


def test_delivery_failures_are_reported_not_counted_as_sent() -> None:
    producer = ItemProducer(settings=SETTINGS, producer=FailingProducer({b"item-1"}))
    producer.send_many([item(i) for i in range(3)])
    report = producer.flush(5)
    assert not report.complete
    assert report.acknowledged == 2
    assert [(f.item_id, f.error) for f in report.failures] == [
        ("item-1", "Broker: Not enough in-sync replicas")
    ]


def test_pending_items_are_reported_when_the_deadline_passes() -> None:
    class NeverDelivers(InMemoryProducer):
        def poll(self, timeout: float = 0) -> int:
            return 0

        def flush(self, timeout: float = 0) -> int:
            return len(self)

    producer = ItemProducer(settings=SETTINGS, producer=NeverDelivers())
    producer.send_many([item(0), item(1)])
    report = producer.flush(0.2)
    assert report.pending == 2 and report.acknowledged == 0 and not report.complete


def test_in_memory_message_key_helper() -> None:
    # the FailingProducer above relies on InMemoryMessage exposing the key as bytes
    assert InMemoryMessage("t", b"v", b"k").key() == b"k"


def test_context_manager_flushes() -> None:
    class DeliversOnFlush(InMemoryProducer):
        def poll(self, timeout: float = 0) -> int:
            return 0

        def flush(self, timeout: float = 0) -> int:
            super().poll()
            return 0

    with ItemProducer(settings=SETTINGS, producer=DeliversOnFlush()) as producer:
        producer.send(item(0))
        assert len(producer) == 1 and producer.acknowledged == 0
    assert len(producer) == 0 and producer.acknowledged == 1


def test_item_refused_by_the_client_is_a_failure_and_the_rest_still_go() -> None:
    from confluent_kafka import KafkaError, KafkaException

    class RefusesOne(InMemoryProducer):
        def produce(self, topic: str, value: bytes | None = None, key: Any = None, **kwargs: Any) -> None:
            if key == "item-1":
                raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
            super().produce(topic, value=value, key=key, **kwargs)

    fake = RefusesOne()
    producer = ItemProducer(settings=SETTINGS, producer=fake)
    assert producer.send_many([item(i) for i in range(3)]) == []
    report = producer.flush(5)
    assert [m.key() for m in fake.topics["u.items"]] == [b"item-0", b"item-2"]
    assert report.acknowledged == 2 and [f.item_id for f in report.failures] == ["item-1"]
