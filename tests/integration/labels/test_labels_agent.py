"""The labels agent on a real broker: each validation failure lands in dead letters with its reason,
valid / skipped / duplicate labels do not, and an early label waits for its assignment."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from alstream.agents.labels import main as labels_main
from alstream.settings import load_settings
from alstream.streams.batch_loop import StopFlag
from alstream.streams.codecs import SingleObjectCodec, codec_for
from alstream.streams.dead_letters import error_headers
from alstream.streams.exceptions import DecodeError
from alstream.streams.kafka_config import consumer_config, producer_config

pytestmark = pytest.mark.broker

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _assignment(aid: str, annotator: str, item: str) -> dict[str, Any]:
    return {
        "assignment_id": aid,
        "annotator_id": annotator,
        "item_id": item,
        "kind": "NORMAL",
        "classes": ["cat", "dog"],
        "uri": None,
        "unit_of_work": "ITEM",
        "policy_version": "p1",
        "quota_version": "q1",
        "model_version": "m1",
        "overlap_group": None,
        "calibration_id": None,
        "assigned_at": T0,
        "lease_expires_at": T0 + timedelta(hours=1),
    }


def _label(lid: str, aid: str, annotator: str, item: str, **overrides: Any) -> dict[str, Any]:
    record = {
        "label_id": lid,
        "assignment_id": aid,
        "item_id": item,
        "annotator_id": annotator,
        "status": "LABELED",
        "value": "cat",
        "root_cause": None,
        "started_at": T0,
        "submitted_at": T0 + timedelta(seconds=7),
    }
    record.update(overrides)
    return record


def test_each_validation_failure_is_dead_lettered_with_its_reason(topics, monkeypatch) -> None:
    monkeypatch.setenv("ALSTREAM_TASK__CLASSES", '["cat", "dog"]')
    monkeypatch.setenv("ALSTREAM_LABELS__HOLD_UNKNOWN_S", "2")
    monkeypatch.setenv("ALSTREAM_LABELS__GROUP_ID", f"labels-{uuid.uuid4().hex[:6]}")
    settings = load_settings()
    a_codec, l_codec = codec_for("assignments", settings), codec_for("labels", settings)
    producer = Producer(producer_config(settings))
    for i in range(6):
        producer.produce(
            settings.kafka.topic("assignments"),
            key=b"ann",
            value=a_codec.encode(_assignment(f"a{i}", "ann", f"item{i}")),
        )
    producer.flush(10)

    labels = {
        "ok": _label("ok", "a0", "ann", "item0"),
        "unknown": _label("unknown", "nope", "ann", "item1"),
        "wrong-annotator": _label("wrong-annotator", "a1", "eve", "item1"),
        "bad-value": _label("bad-value", "a2", "ann", "item2", value="fish"),
        "time-travel": _label("time-travel", "a3", "ann", "item3", submitted_at=T0 - timedelta(seconds=1)),
        "skipped": _label("skipped", "a4", "ann", "item4", status="SKIPPED", value=None),
    }
    for record in [*labels.values(), labels["ok"]]:  # "ok" twice: the duplicate is ignored
        producer.produce(
            settings.kafka.topic("labels"), key=record["item_id"].encode(), value=l_codec.encode(record)
        )
    # a label that arrives before its assignment is held, then accepted once the assignment shows up
    producer.produce(
        settings.kafka.topic("labels"),
        key=b"item5",
        value=l_codec.encode(_label("early", "a99", "ann", "item5")),
    )
    producer.produce(settings.kafka.topic("labels"), key=b"x", value=b"\x00garbage that is no label")
    producer.flush(10)
    time.sleep(0.3)  # let the labels land before the assignment (ordering is what is tested, not timing)
    producer.produce(
        settings.kafka.topic("assignments"),
        key=b"ann",
        value=a_codec.encode(_assignment("a99", "ann", "item5")),
    )
    producer.flush(10)

    stop = StopFlag()
    agent = threading.Thread(target=labels_main.run, args=(settings,), kwargs={"stop": stop}, daemon=True)
    agent.start()
    consumer = Consumer(consumer_config(settings, group_id=f"dlq-{uuid.uuid4().hex[:6]}"))
    consumer.subscribe([settings.kafka.topic("dead-letters")])
    dead_letters = SingleObjectCodec("dead-letters")
    reasons: dict[str, str] = {}
    deadline = time.monotonic() + 60
    try:
        while len(reasons) < 5 and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            headers = error_headers(message.headers())
            assert headers["agent"] == "labels"
            original = dead_letters.decode(message.value())["original_value"]  # the wrapped original bytes
            try:
                label_id = l_codec.decode(original)["label_id"]
            except DecodeError:
                label_id = "garbage"
            reasons[label_id] = headers["class"]
        # give the agent a moment to (wrongly) dead-letter more, then look once more
        extra_deadline = time.monotonic() + 3
        while time.monotonic() < extra_deadline:
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                reasons[f"extra-{message.offset()}"] = error_headers(message.headers())["class"]
    finally:
        consumer.close()
        stop.set()
        agent.join(30)
    assert reasons == {
        "unknown": "UnknownAssignment",
        "wrong-annotator": "WrongAnnotator",
        "bad-value": "ValueNotInClasses",
        "time-travel": "SubmittedBeforeStarted",
        "garbage": "WrongMagic",
    }
    assert not agent.is_alive()


def test_labels_held_at_a_restart_are_neither_lost_nor_dead_lettered_twice(topics, monkeypatch) -> None:
    """Labels waiting for their assignment when the agent stops (offsets already committed): after the
    restart, one whose assignment arrived meanwhile is settled, one still without is held again."""
    monkeypatch.setenv("ALSTREAM_TASK__CLASSES", '["cat", "dog"]')
    monkeypatch.setenv("ALSTREAM_LABELS__HOLD_UNKNOWN_S", "120")
    monkeypatch.setenv("ALSTREAM_LABELS__GROUP_ID", f"labels-{uuid.uuid4().hex[:6]}")
    settings = load_settings()
    from alstream.streams.dead_letters import dead_lettered_offsets
    from alstream.streams.replay import committed_offsets
    from alstream.streams.runtime import AgentRuntime

    a_codec, l_codec = codec_for("assignments", settings), codec_for("labels", settings)
    producer = Producer(producer_config(settings))
    for lid, aid in (("late", "a-late"), ("orphan", "a-never")):
        producer.produce(
            settings.kafka.topic("labels"), key=b"it", value=l_codec.encode(_label(lid, aid, "ann", "it"))
        )
    producer.flush(10)
    stop = StopFlag()
    agent = threading.Thread(target=labels_main.run, args=(settings,), kwargs={"stop": stop}, daemon=True)
    agent.start()
    labels_topic = settings.kafka.topic("labels")
    deadline = time.monotonic() + 60
    while (
        time.monotonic() < deadline
        and sum(
            committed_offsets(
                settings, group_id=settings.kafka.group_id(settings.labels.group_id), topic=labels_topic
            ).values()
        )
        < 2
    ):
        time.sleep(0.5)
    stop.set()
    agent.join(30)
    assert not agent.is_alive()
    producer.produce(
        settings.kafka.topic("assignments"),
        key=b"ann",
        value=a_codec.encode(_assignment("a-late", "ann", "it")),
    )
    producer.flush(10)

    runtime = AgentRuntime(agent="labels", config=settings, stop=StopFlag())
    try:  # what a restarted agent starts from, built but not run
        labels_main.setup(settings)(runtime)
        assert runtime.runner is not None
        processor = runtime.runner.processor
    finally:
        if runtime.runner is not None:
            runtime.runner.close()
        runtime.close()
    assert "late" in processor.seen and "late" not in processor.held
    assert list(processor.held) == ["orphan"]
    # HOLD_UNKNOWN_S=120 keeps both labels held for the whole test, so what this really checks is that
    # neither was dead-lettered at all (which covers "not twice").
    assert dead_lettered_offsets(settings, agent="labels", source_topic=labels_topic) == set()
