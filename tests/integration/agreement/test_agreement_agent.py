"""The agreement agent on a real broker: a drifting annotator produces exactly one calibration event
with 20-50 items, and a restarted agent rebuilds its state from the committed labels without emitting
it again."""

from __future__ import annotations

import importlib.util
import threading
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from alstream.agents.agreement import main as agreement_main
from alstream.settings import load_settings
from alstream.streams.batch_loop import StopFlag
from alstream.streams.codecs import codec_for
from alstream.streams.kafka_config import consumer_config, producer_config
from alstream.streams.replay import committed_offsets

pytestmark = pytest.mark.broker

_spec = importlib.util.spec_from_file_location(
    "agreement_simulation", Path(__file__).parents[2] / "unit" / "agreement" / "simulation.py"
)
sim = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(sim)  # type: ignore[union-attr]


def _start(settings) -> tuple[threading.Thread, StopFlag]:
    stop = StopFlag()
    thread = threading.Thread(target=agreement_main.run, args=(settings,), kwargs={"stop": stop}, daemon=True)
    thread.start()
    return thread, stop


def _events(consumer: Consumer, codec, until: float, want: int) -> list[dict]:
    events = []
    while time.monotonic() < until and len(events) < want:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            events.append(codec.decode(message.value()))
    return events


def test_drift_emits_one_calibration_event_and_restart_does_not_repeat_it(
    topics, monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv("ALSTREAM_TASK__CLASSES", '["cat", "dog", "bird"]')
    monkeypatch.setenv("ALSTREAM_PATHS__STATE_DIR", str(tmp_path))
    monkeypatch.setenv("ALSTREAM_AGREEMENT__OVERLAP_K", "3")
    monkeypatch.setenv("ALSTREAM_AGREEMENT__GROUP_ID", f"agr-{uuid.uuid4().hex[:6]}")
    settings = load_settings()
    assignments, candidates, labels = sim.overlapped_stream(seed=1, items=200, drift_from=100)
    producer = Producer(producer_config(settings))
    for topic, records, key in (
        ("assignments", assignments, "annotator_id"),
        ("candidates", candidates, "item_id"),
        ("labels", labels, "item_id"),
    ):
        codec = codec_for(topic, settings)
        for record in records:
            # labels all on one partition: the annotators' timeline in order, as at human rate (a backlog
            # spread over partitions is read partition by partition and can look like two drifts)
            where = {"partition": 0} if topic == "labels" else {}
            producer.produce(
                settings.kafka.topic(topic), key=record[key].encode(), value=codec.encode(record), **where
            )
    producer.flush(10)

    calibration = codec_for("calibration", settings)
    consumer = Consumer(consumer_config(settings, group_id=f"cal-{uuid.uuid4().hex[:6]}"))
    consumer.subscribe([settings.kafka.topic("calibration")])
    thread, stop = _start(settings)
    try:
        first = _events(consumer, calibration, time.monotonic() + 60, want=1)
        assert len(first) == 1
        assert 20 <= len(first[0]["items"]) <= 50
        assert first[0]["disagreement_rate"] > first[0]["baseline_rate"]
        deadline = time.monotonic() + 30  # wait until the group committed every label, then restart
        labels_topic = settings.kafka.topic("labels")
        while time.monotonic() < deadline:
            if sum(
                committed_offsets(
                    settings,
                    group_id=settings.kafka.group_id(settings.agreement.group_id),
                    topic=labels_topic,
                ).values()
            ) >= len(labels):
                break
            time.sleep(0.5)
        first += _events(consumer, calibration, time.monotonic() + 2, want=10)
        assert len(first) == 1  # one drift, one calibration session
        stop.set()
        thread.join(30)
        assert not thread.is_alive()
        failures_file = tmp_path / "model_failures.jsonl"
        failures_before = failures_file.read_text() if failures_file.exists() else ""
        thread, stop = _start(settings)
        assert _events(consumer, calibration, time.monotonic() + 10, want=1) == []
        failures_after = failures_file.read_text() if failures_file.exists() else ""
        assert failures_after == failures_before  # restored, not re-recorded
        ids = [line.split('"item_id": ')[1].split(",")[0] for line in failures_after.splitlines()]
        assert len(ids) == len(set(ids))
    finally:
        stop.set()
        thread.join(30)
        consumer.close()
