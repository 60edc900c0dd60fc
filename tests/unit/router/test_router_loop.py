"""The router's batch processor with in-memory clients: the crash-safe write order (table writes
acknowledged before any assignment is produced), the fan-out of keyed annotator events, and a batch
processed again after a failed delivery re-sends its outputs instead of deciding twice."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from alstream.agents.router import app as router_app
from alstream.agents.router.app import FANOUT_HEADER, RouterService
from alstream.agents.router.changelog import RestoredTable
from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.batch_loop import Outputs
from alstream.streams.codecs import codec_for
from alstream.streams.dead_letters import DeadLetterSink
from alstream.streams.partitioning import partition_for
from alstream.streams.testing import InMemoryMessage, InMemoryProducer
from tests.support import records

SHARDS = 2


class RecordingProducer(InMemoryProducer):
    """Remembers the order of produces (by topic) and flushes."""

    def __init__(self) -> None:
        super().__init__(partitions=SHARDS)
        self.journal: list[str] = []

    def produce(self, topic: str, *args: Any, **kwargs: Any) -> None:
        self.journal.append(topic)
        super().produce(topic, *args, **kwargs)

    def flush(self, timeout: float = 0) -> int:
        self.journal.append("flush")
        return super().flush(timeout)


class FakeRuntime:
    def follow(self, *args: Any, **kwargs: Any) -> None:
        return None

    def consume(self, **kwargs: Any) -> None:
        self.consumer_overrides = kwargs["consumer_overrides"]

    def stopping(self) -> bool:
        return False


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AlstreamSettings:
    quotas = tmp_path / "quotas.toml"
    quotas.write_text(records.PERMISSIVE_QUOTAS)
    for name, value in {
        "ALSTREAM_TASK__CLASSES": '["cat","dog","fox"]',
        "ALSTREAM_PATHS__QUOTAS_FILE": str(quotas),
        "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state"),
        "ALSTREAM_KAFKA__TOPIC_PREFIX": "u.",
    }.items():
        monkeypatch.setenv(name, value)
    return load_settings()


@pytest.fixture
def service(settings: AlstreamSettings, monkeypatch: pytest.MonkeyPatch) -> RouterService:
    monkeypatch.setattr(
        router_app, "partition_counts", lambda settings, names, **_: dict.fromkeys(names, SHARDS)
    )
    monkeypatch.setattr(router_app, "restore_table", lambda **_: RestoredTable())  # empty shards
    service = RouterService(settings=settings, runtime=FakeRuntime(), producer=RecordingProducer())  # type: ignore[arg-type]
    events = settings.kafka.topic("annotator-events")
    service._on_assign([TopicPartition(events, p) for p in range(SHARDS)])
    return service


def outputs_of(service: RouterService) -> Outputs:
    producer = service.producer
    return Outputs(
        producer=producer,
        dead_letters=DeadLetterSink(producer=producer, topic="u.dead-letters", agent="router"),
    )


def item_on(shard: int) -> str:
    return next(f"item-{n}" for n in range(100) if partition_for(f"item-{n}", SHARDS) == shard)


def annotator_homed_on(shard: int) -> str:
    return next(f"ann-{n}" for n in range(100) if partition_for(f"ann-{n}", SHARDS) == shard)


def message(
    settings: AlstreamSettings,
    base: str,
    record: dict[str, Any],
    *,
    key: str,
    partition: int,
    offset: int,
    headers: list[tuple[str, bytes]] | None = None,
) -> InMemoryMessage:
    value = codec_for(base, settings).encode(record)
    return InMemoryMessage(settings.kafka.topic(base), value, key.encode(), partition, offset, headers)


def test_table_writes_are_acknowledged_before_assignments_and_keyed_events_fan_out(
    service: RouterService, settings: AlstreamSettings
) -> None:
    now = datetime.now(tz=UTC)
    item, annotator = item_on(0), annotator_homed_on(0)
    batch = [
        message(
            settings, "candidates", records.candidate(item, selected_at=now), key=item, partition=0, offset=0
        ),
        message(
            settings,
            "annotator-events",
            records.annotator_event(annotator, ready_for=1, occurred_at=now),
            key=annotator,
            partition=0,
            offset=0,
        ),
    ]
    producer = service.producer
    producer.journal.clear()  # type: ignore[attr-defined]
    service.process(batch, outputs_of(service))
    journal: list[str] = producer.journal  # type: ignore[attr-defined]
    state, assignments = settings.kafka.topic("router-state"), settings.kafka.topic("assignments")
    assert assignments in journal
    first_assignment = journal.index(assignments)
    assert state in journal[:first_assignment]
    assert "flush" in journal[journal.index(state) : first_assignment]  # acknowledged, then assigned
    assert state not in journal[first_assignment:]
    copies = list(producer.topics[settings.kafka.topic("annotator-events")])  # type: ignore[attr-defined]
    assert [(c.partition(), dict(c.headers() or [])[FANOUT_HEADER]) for c in copies] == [(1, b"1")]
    assert copies[0].value() == batch[1].value()  # the same event (one event_id) for the other shard
    made = [m.value() for m in producer.topics[assignments]]  # type: ignore[attr-defined]
    assert len(made) == 1

    # The batch again (its delivery failed): nothing decided twice, the same outputs sent again.
    service.process(batch, outputs_of(service))
    again = [m.value() for m in producer.topics[assignments]]  # type: ignore[attr-defined]
    assert again == made + made
    assert len(service.shards[0].leases) == 1


def test_copies_and_broadcast_copies_are_not_fanned_out_again(
    service: RouterService, settings: AlstreamSettings
) -> None:
    now = datetime.now(tz=UTC)
    homed_on_0 = annotator_homed_on(0)
    copy = message(
        settings,
        "annotator-events",
        records.annotator_event(homed_on_0, event_type="ONLINE", occurred_at=now),
        key=homed_on_0,
        partition=1,
        offset=0,
        headers=[(FANOUT_HEADER, b"1")],
    )
    broadcast = message(
        settings,
        "annotator-events",
        records.annotator_event(homed_on_0, event_type="ONLINE", occurred_at=now),
        key=homed_on_0,
        partition=1,  # not its home: a tool that sends to every partition itself
        offset=1,
    )
    service.process([copy, broadcast], outputs_of(service))
    assert not service.producer.topics[settings.kafka.topic("annotator-events")]  # type: ignore[attr-defined]
    assert homed_on_0 in service.shards[1].annotators  # both applied on the shard that read them
