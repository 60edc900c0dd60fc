"""The agreement agent on a real broker: a drifting annotator produces exactly one calibration event
with 20-50 items, and a restarted agent rebuilds its state from the committed labels without emitting
it again."""

from __future__ import annotations

import threading
import uuid

import pytest
from confluent_kafka import Producer

from alstream.agents.agreement import main as agreement_main
from alstream.settings import load_settings
from alstream.streams.batch_loop import StopFlag
from alstream.streams.codecs import codec_for
from alstream.streams.kafka_config import producer_config
from alstream.streams.reading import read_to_end
from alstream.streams.replay import committed_offsets
from tests.support import agreement_stream as sim
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker


def _start(settings) -> tuple[threading.Thread, StopFlag]:
    stop = StopFlag()
    thread = threading.Thread(target=agreement_main.run, args=(settings,), kwargs={"stop": stop}, daemon=True)
    thread.start()
    return thread, stop


def _calibration_events(settings) -> list[dict]:
    """Every calibration event on the topic now (read to its end)."""
    codec = codec_for("calibration", settings)
    events: list[dict] = []
    read_to_end(
        settings,
        [settings.kafka.topic("calibration")],
        lambda messages: events.extend(codec.decode(m.value()) for m in messages),
        patience_s=30,
    )
    return events


def _wait_until_committed(settings, count: int) -> None:
    """Until the agent's group committed ``count`` labels: everything it emits for them is on its topic
    by then (outputs are flushed before offsets are committed)."""
    group = settings.kafka.group_id(settings.agreement.group_id)
    topic = settings.kafka.topic("labels")
    wait_until(
        lambda: sum(committed_offsets(settings, group_id=group, topic=topic).values()) >= count,
        timeout_s=60,
        interval_s=0.5,
        what=f"the agreement agent to commit {count} labels",
    )


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
    assert producer.flush(10) == 0

    thread, stop = _start(settings)
    try:
        _wait_until_committed(settings, len(labels))
        first = _calibration_events(settings)
        assert len(first) == 1  # one drift, one calibration session
        assert 20 <= len(first[0]["items"]) <= 50
        assert first[0]["disagreement_rate"] > first[0]["baseline_rate"]
        stop.set()
        thread.join(30)
        assert not thread.is_alive()
        failures_file = tmp_path / "model_failures.jsonl"
        failures_before = failures_file.read_text() if failures_file.exists() else ""
        thread, stop = _start(settings)
        # The drifting stretch again (at-least-once redelivery): once the restarted agent has handled it,
        # its restored state has not emitted the session again, nor did the duplicates.
        resent = labels[-30:]
        for record in resent:
            producer.produce(
                settings.kafka.topic("labels"),
                key=record["item_id"].encode(),
                value=codec_for("labels", settings).encode(record),
                partition=0,
            )
        assert producer.flush(10) == 0
        _wait_until_committed(settings, len(labels) + len(resent))
        assert _calibration_events(settings) == first
        failures_after = failures_file.read_text() if failures_file.exists() else ""
        assert failures_after == failures_before  # restored, not re-recorded
        ids = [line.split('"item_id": ')[1].split(",")[0] for line in failures_after.splitlines()]
        assert len(ids) == len(set(ids))
    finally:
        stop.set()
        thread.join(30)
