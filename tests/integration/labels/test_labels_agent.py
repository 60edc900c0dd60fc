"""The labels agent on a real broker: each validation failure lands in dead letters with its reason,
valid / skipped / duplicate labels do not, and an early label waits for its assignment."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from confluent_kafka import Producer
from prometheus_client import REGISTRY

from alstream.agents.labels import main as labels_main
from alstream.settings import load_settings
from alstream.streams.batch_loop import StopFlag
from alstream.streams.codecs import SingleObjectCodec, codec_for
from alstream.streams.dead_letters import error_headers
from alstream.streams.exceptions import DecodeError
from alstream.streams.kafka_config import producer_config
from alstream.streams.reading import read_to_end
from alstream.streams.replay import committed_offsets
from tests.support import records
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker

CLASSES = ["cat", "dog"]


def _assignment(aid: str, annotator: str, item: str) -> dict[str, Any]:
    return records.assignment(aid, annotator_id=annotator, item_id=item, classes=CLASSES)


def _label(lid: str, aid: str, annotator: str, item: str, **overrides: Any) -> dict[str, Any]:
    """A label claiming assignment ``aid`` for ``annotator`` and ``item`` (whatever the topic says)."""
    return records.label(lid, of=_assignment(aid, annotator, item), **overrides)


def _committed_labels(settings) -> int:
    group = settings.kafka.group_id(settings.labels.group_id)
    return sum(committed_offsets(settings, group_id=group, topic=settings.kafka.topic("labels")).values())


def _dead_letter_reasons(settings, labels_codec) -> dict[str, str]:
    """label id (``garbage`` for undecodable bytes) -> error class of every dead letter on the topic now."""
    wrapper = SingleObjectCodec("dead-letters")
    reasons: dict[str, str] = {}

    def note(messages) -> None:
        for message in messages:
            headers = error_headers(message.headers())
            assert headers["agent"] == "labels"
            original = wrapper.decode(message.value())["original_value"]  # the wrapped original bytes
            try:
                label_id = labels_codec.decode(original)["label_id"]
            except DecodeError:
                label_id = "garbage"
            assert label_id not in reasons, f"{label_id} dead-lettered twice"
            reasons[label_id] = headers["class"]

    read_to_end(settings, [settings.kafka.topic("dead-letters")], note, patience_s=30)
    return reasons


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
        "time-travel": _label("time-travel", "a3", "ann", "item3", seconds=-1),  # submitted before started
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
    assert producer.flush(10) == 0  # the labels are on their topic before the assignment is
    producer.produce(
        settings.kafka.topic("assignments"),
        key=b"ann",
        value=a_codec.encode(_assignment("a99", "ann", "item5")),
    )
    producer.flush(10)

    stop = StopFlag()
    agent = threading.Thread(target=labels_main.run, args=(settings,), kwargs={"stop": stop}, daemon=True)
    agent.start()
    sent = len(labels) + 3  # the duplicate "ok", the early label, the garbage
    expected = {
        "unknown": "UnknownAssignment",
        "wrong-annotator": "WrongAnnotator",
        "bad-value": "ValueNotInClasses",
        "time-travel": "SubmittedBeforeStarted",
        "garbage": "WrongMagic",
    }

    def settled() -> dict[str, str] | None:
        """The dead letters, once every label is committed and none is held (nothing more can come) and
        as many are on the topic as expected (the held one's is produced after its offset is committed)."""
        if _committed_labels(settings) < sent or REGISTRY.get_sample_value("alstream_labels_pending") != 0:
            return None
        reasons = _dead_letter_reasons(settings, l_codec)
        return reasons if len(reasons) >= len(expected) else None

    try:
        reasons = wait_until(
            settled,
            timeout_s=60,
            interval_s=0.5,
            what="the labels agent to settle every label",
            diagnose=lambda: f"committed {_committed_labels(settings)} of {sent}",
        )
    finally:
        stop.set()
        agent.join(30)
    assert reasons == expected
    assert not agent.is_alive()


def test_labels_held_at_a_restart_are_neither_lost_nor_dead_lettered_twice(topics, monkeypatch) -> None:
    """Labels waiting for their assignment when the agent stops (offsets already committed): after the
    restart, one whose assignment arrived meanwhile is settled, one still without is held again."""
    monkeypatch.setenv("ALSTREAM_TASK__CLASSES", '["cat", "dog"]')
    monkeypatch.setenv("ALSTREAM_LABELS__HOLD_UNKNOWN_S", "120")
    monkeypatch.setenv("ALSTREAM_LABELS__GROUP_ID", f"labels-{uuid.uuid4().hex[:6]}")
    settings = load_settings()
    from alstream.streams.dead_letters import dead_lettered_offsets
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
    wait_until(
        lambda: _committed_labels(settings) >= 2, timeout_s=60, interval_s=0.5, what="both labels committed"
    )
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
