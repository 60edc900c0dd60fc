"""Annotators bound to tools, on a real broker: the SDK on its tool's topics, the tool gateway agent
between them and the shared topics, and what a release then holds.

An impostor tool sending a label as another annotator, or reusing another label's ``label_id``, is
dead-lettered with its reason and the release keeps the real label; each tool's assignment topic holds
only its own annotators' work, without ``kind``. (The broker enforcing that only ``User:<tool>`` reads
and writes ``tool.<tool>.*`` is the ACLs' part: Tansu does not enforce ACLs, docs/security.md.)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alstream.agents.release.compaction import compact
from alstream.agents.tool_gateway import main as gateway_main
from alstream.annotation.client import AnnotationClient
from alstream.annotation.exceptions import AnnotationError
from alstream.contracts.labels import LabelRules
from alstream.security.identity import deployment_topics
from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.codecs import codec_for
from alstream.streams.stopping import StopFlag
from alstream.streams.topics import create_topics
from tests.support.records import assignment, label
from tests.support.topics import dead_letters, produce_raw, read_messages
from tests.support.waiting import wait_until

CLASSES = ["cat", "dog"]


@pytest.fixture
def bound(settings: AlstreamSettings, monkeypatch: pytest.MonkeyPatch) -> Iterator[AlstreamSettings]:
    """Two tools, each bound to one annotator, their topics created and the gateway running."""
    monkeypatch.setenv("ALSTREAM_TASK__CLASSES", json.dumps(CLASSES))
    monkeypatch.setenv(
        "ALSTREAM_IDENTITY__TOOLS", json.dumps({"alice-tool": ["alice"], "mallory-tool": ["mallory"]})
    )
    configured = load_settings()
    create_topics(configured, specs=deployment_topics(configured.identity), partitions_override=2)
    stop = StopFlag()
    agent = threading.Thread(target=gateway_main.run, args=(configured,), kwargs={"stop": stop}, daemon=True)
    agent.start()
    try:
        yield configured
    finally:
        stop.set()
        agent.join(30)
    assert not agent.is_alive()


def as_tool(settings: AlstreamSettings, tool: str) -> AlstreamSettings:
    return settings.model_copy(update={"identity": settings.identity.model_copy(update={"tool": tool})})


def tool_records(settings: AlstreamSettings, topic_base: str, schema: str) -> list[dict[str, Any]]:
    codec = codec_for(schema, settings)
    return [codec.decode(m.value()) for m in read_messages(settings, topic_base)]


def test_impostors_and_reused_label_ids_are_refused_and_the_release_keeps_the_real_label(
    bound: AlstreamSettings,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    work = {
        "alice": assignment(
            "a-alice", annotator_id="alice", item_id="it1", kind="QA", classes=CLASSES, assigned_at=now
        ),
        "mallory": assignment(
            "a-mallory", annotator_id="mallory", item_id="it2", kind="HARD", classes=CLASSES, assigned_at=now
        ),
    }
    shared = codec_for("assignments", bound)
    for record in work.values():  # what the router writes
        produce_raw(bound, "assignments", shared.encode(record), key=record["annotator_id"])

    with AnnotationClient(settings=as_tool(bound, "alice-tool"), annotator_id="alice") as alice:
        got = wait_until(lambda: alice.assignments(timeout_s=0.5), timeout_s=60, what="alice's assignment")
        assert [a["assignment_id"] for a in got] == ["a-alice"]
        assert "kind" not in got[0]  # QA work looks like any other work
        real_id = alice.submit(got[0], value="cat", started_at=now, submitted_at=now + timedelta(seconds=5))

    # Mallory's tool may not even open a channel as alice ...
    with pytest.raises(AnnotationError, match="may not act for annotator 'alice'"):
        AnnotationClient(settings=as_tool(bound, "mallory-tool"), annotator_id="alice")
    # ... and what it writes on its own topic anyway is refused by the gateway.
    labels = codec_for("labels", bound)
    impostor = label("forged", of=work["alice"], value="dog", submitted_at=now + timedelta(seconds=30))
    produce_raw(bound, "tool.mallory-tool.labels", labels.encode(impostor), key="it1")
    reuse = label(real_id, of=work["mallory"], value="dog", submitted_at=now + timedelta(seconds=1))
    produce_raw(bound, "tool.mallory-tool.labels", labels.encode(reuse), key="it2")

    def gateway_letters() -> list[dict[str, Any]] | None:
        found = [d for d in dead_letters(bound) if d["agent"] == "tool-gateway"]
        return found if len(found) >= 2 else None

    refused = wait_until(gateway_letters, timeout_s=60, what="the gateway's two dead letters")
    assert sorted(d["error_class"] for d in refused) == ["ImpostorAnnotator", "LabelIdReused"]
    assert {d["source_topic"] for d in refused} == {bound.kafka.topic("tool.mallory-tool.labels")}

    shared_labels = wait_until(
        lambda: tool_records(bound, "labels", "labels") or None, timeout_s=60, what="alice's label forwarded"
    )
    assert [(lab["label_id"], lab["annotator_id"], lab["value"]) for lab in shared_labels] == [
        (real_id, "alice", "cat")
    ]
    release = compact(shared_labels, list(work.values()), rules=LabelRules.from_settings(bound))
    assert [(i.item_id, i.label) for i in release.items] == [("it1", "cat")]
    assert "superseded" not in release.excluded and "duplicate" not in release.excluded


def test_each_tool_sees_only_its_annotators_work(bound: AlstreamSettings) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    shared = codec_for("assignments", bound)
    for i, annotator in enumerate(["alice", "mallory", "alice", "nobody"]):
        record = assignment(
            f"a{i}", annotator_id=annotator, item_id=f"it{i}", kind="RANDOM", classes=CLASSES, assigned_at=now
        )
        produce_raw(bound, "assignments", shared.encode(record), key=annotator)

    def delivered(tool: str) -> list[dict[str, Any]]:
        return tool_records(bound, f"tool.{tool}.assignments", "tool-assignments")

    alice_work = wait_until(
        lambda: len(delivered("alice-tool")) == 2 and delivered("alice-tool"),
        timeout_s=60,
        what="alice's two assignments delivered",
    )
    mallory_work = wait_until(lambda: delivered("mallory-tool"), timeout_s=60, what="mallory's assignment")
    assert sorted(a["assignment_id"] for a in alice_work) == ["a0", "a2"]
    assert [a["assignment_id"] for a in mallory_work] == ["a1"]
    assert all(a["annotator_id"] == "alice" for a in alice_work)
    raw = b"".join(m.value() for m in read_messages(bound, "tool.alice-tool.assignments"))
    assert b"RANDOM" not in raw


def test_a_label_id_stays_bound_across_a_gateway_restart(
    settings: AlstreamSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gateway rebuilds each label id's first content from the shared labels topic at start."""
    monkeypatch.setenv("ALSTREAM_TASK__CLASSES", json.dumps(CLASSES))
    monkeypatch.setenv("ALSTREAM_IDENTITY__TOOLS", json.dumps({"t1": ["alice"], "t2": ["bob"]}))
    configured = load_settings()
    create_topics(configured, specs=deployment_topics(configured.identity), partitions_override=2)
    labels = codec_for("labels", configured)
    now = datetime.now(UTC).replace(microsecond=0)
    first = label("shared-id", of=assignment("a1", annotator_id="alice", assigned_at=now), value="cat")
    reuse = label("shared-id", of=assignment("a2", annotator_id="bob", assigned_at=now), value="dog")

    def run_gateway_until(condition: Any, what: str) -> None:
        stop = StopFlag()
        agent = threading.Thread(
            target=gateway_main.run, args=(configured,), kwargs={"stop": stop}, daemon=True
        )
        agent.start()
        try:
            wait_until(condition, timeout_s=60, what=what)
        finally:
            stop.set()
            agent.join(30)
        assert not agent.is_alive()

    produce_raw(configured, "tool.t1.labels", labels.encode(first), key="it1")
    run_gateway_until(lambda: tool_records(configured, "labels", "labels"), "alice's label forwarded")
    produce_raw(configured, "tool.t2.labels", labels.encode(reuse), key="it1")
    run_gateway_until(
        lambda: [d for d in dead_letters(configured) if d["error_class"] == "LabelIdReused"],
        "the reuse refused by the restarted gateway",
    )
    assert [lab["value"] for lab in tool_records(configured, "labels", "labels")] == ["cat"]
