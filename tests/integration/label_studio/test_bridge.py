"""The Label Studio bridge against a real Label Studio server and the broker, as a subprocess.

Assignments are produced the way the router produces them (keyed by annotator, on the annotator's
partition); people answer through Label Studio's own API with their own logged-in sessions (the browser
test drives the real UI). Everything checked is read back from the topics, Label Studio and /metrics.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from alstream.agents.label_studio.local_server import LocalLabelStudio
from alstream.agents.release.compaction import default_rules, valid_labels
from alstream.demo import scrape
from alstream.settings import AlstreamSettings
from alstream.streams.dead_letters import error_headers
from alstream.streams.embedded_broker import free_port
from tests.support.label_studio import (
    ANNOTATOR_PASSWORD,
    CLASSES,
    PersonSession,
    admin_headers,
    bridge_environment,
    decoded,
    log_tail,
    produce_assignments,
    project_tasks,
    start_bridge,
    stop_bridge,
    work,
)
from tests.support.topic_dump import dump
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.fixture
def bridge_env(
    topics: AlstreamSettings, label_studio: LocalLabelStudio, tmp_path: Path, unique_id: str
) -> dict[str, str]:
    return bridge_environment(
        topics,
        label_studio,
        annotators=[f"ann1-{unique_id}", f"ann2-{unique_id}"],
        state_dir=tmp_path / "state",
        task_name=f"bridge-{unique_id}",
        classes=CLASSES,
        ALSTREAM_METRICS__PORT=str(free_port()),
    )


def test_assignments_become_queue_tasks_and_annotations_become_labels(
    topics: AlstreamSettings, label_studio: LocalLabelStudio, bridge_env: dict[str, str], tmp_path: Path
) -> None:
    settings = topics
    ann1, ann2 = json.loads(bridge_env["ALSTREAM_LABEL_STUDIO__ANNOTATORS"])
    title = f"alstream: {bridge_env['ALSTREAM_TASK__NAME']}"
    records = [
        work("a1", ann1, 1, kind="QA"),
        work("a2", ann1, 2, kind="RANDOM"),
        work("a3", ann1, 3, kind="HARD"),
        work("a4", ann1, 4, kind="CALIBRATION", calibration_id="cal-1"),
        work("b1", ann2, 5, kind="OVERLAP", overlap_group="g-1"),
    ]
    produce_assignments(settings, records)
    log = tmp_path / "bridge.log"
    bridge = start_bridge(bridge_env, log)
    people: list[PersonSession] = []
    try:
        tasks = wait_until(
            lambda: (found := project_tasks(label_studio, title)) and len(found) >= 5 and found,
            timeout_s=120,
            what="five tasks in the project",
            diagnose=lambda: log_tail(log),
        )
        assert len(tasks) == 5
        by_assignment = {t["data"]["assignment_id"]: t for t in tasks}
        assert set(by_assignment) == {"a1", "a2", "a3", "a4", "b1"}
        for record in records:
            data = by_assignment[record["assignment_id"]]["data"]
            assert data == {
                "item": record["uri"],
                "item_id": record["item_id"],
                "assignment_id": record["assignment_id"],
                "annotator": record["annotator_id"],
            }
        with httpx.Client(base_url=label_studio.url, headers=admin_headers(label_studio)) as http:
            project_id = tasks[0]["project"]
            views = http.get("/api/dm/views", params={"project": project_id}).json()
            emails = {u["email"] for u in http.get("/api/users").json()}
        queues = {v["data"]["title"]: v["data"]["filters"]["items"][0]["value"] for v in views}
        assert queues == {ann1: ann1, ann2: ann2}
        assert {f"{ann1}@alstream.local", f"{ann2}@alstream.local"} <= emails

        # The annotators log in with the password the bridge gave their new accounts.
        # Lead times stay below the time since import: nobody can have started an item before its task
        # existed, and the bridge clamps started_at to that (tests/unit/label_studio covers the clamp).
        first = PersonSession(label_studio, email=f"{ann1}@alstream.local", password=ANNOTATOR_PASSWORD)
        second = PersonSession(label_studio, email=f"{ann2}@alstream.local", password=ANNOTATOR_PASSWORD)
        people.extend([first, second])
        first.annotate(by_assignment["a1"]["id"], "dog", lead_time=0.4)
        first.skip(by_assignment["a2"]["id"], lead_time=0.15)
        original = first.annotate(by_assignment["a3"]["id"], "cat", lead_time=0.3)
        second.annotate(by_assignment["b1"]["id"], "fox", lead_time=0.2)
        second.annotate(by_assignment["a4"]["id"], "cat", lead_time=0.2)  # someone else's task

        def labels_of(assignment_id: str) -> list[dict[str, Any]]:
            return [x for x in decoded(settings, "labels") if x["assignment_id"] == assignment_id]

        wait_until(
            lambda: labels_of("a3") and labels_of("b1"),
            timeout_s=60,
            what="labels for a3 and b1",
            diagnose=lambda: log_tail(log),
        )
        first.edit(original["id"], "fox", lead_time=0.8)  # half a second more on the same item
        wait_until(
            lambda: len(labels_of("a3")) == 2, timeout_s=60, what="the edit", diagnose=lambda: log_tail(log)
        )
        metrics = scrape.scrape(int(bridge_env["ALSTREAM_METRICS__PORT"]))
        assert bridge.poll() is None, log_tail(log)
    finally:
        for person in people:
            person.close()
        assert stop_bridge(bridge) == 0, log_tail(log)

    labels = decoded(settings, "labels")
    by_id = {x["label_id"]: x for x in labels}
    assert len(by_id) == 5, labels  # a1, a2, a3 twice (the edit), b1; nothing for a4
    (a1,) = labels_of_assignment(labels, "a1")
    assert (a1["annotator_id"], a1["status"], a1["value"], a1["item_id"]) == (
        ann1,
        "LABELED",
        "dog",
        "item-a1",
    )
    assert (a1["submitted_at"] - a1["started_at"]).total_seconds() == pytest.approx(0.4, abs=0.002)
    (a2,) = labels_of_assignment(labels, "a2")
    assert (a2["status"], a2["value"]) == ("SKIPPED", None)
    assert (a2["submitted_at"] - a2["started_at"]).total_seconds() == pytest.approx(0.15, abs=0.002)
    before, after = sorted(labels_of_assignment(labels, "a3"), key=lambda x: x["submitted_at"])
    assert (before["value"], after["value"]) == ("cat", "fox") and before["label_id"] != after["label_id"]
    assert (after["submitted_at"] - after["started_at"]).total_seconds() == pytest.approx(0.5, abs=0.002)
    (b1,) = labels_of_assignment(labels, "b1")
    assert (b1["annotator_id"], b1["value"]) == (ann2, "fox")

    # The next release keeps the edit: the latest label per item and annotator wins.
    verdicts = valid_labels(labels, records, rules=default_rules(CLASSES))
    kept, excluded = verdicts.labels, verdicts.excluded
    assert {(v.item_id, v.value) for v in kept} == {
        ("item-a1", "dog"),
        ("item-a3", "fox"),
        ("item-b1", "fox"),
    }
    assert excluded == {"status_skipped": 1, "superseded": 1}

    # Someone else's answer is dead-lettered with the reason, not turned into a label.
    letters = [
        m for m in dump(settings, "dead-letters") if error_headers(m.headers())["agent"] == "label-studio"
    ]
    assert len(letters) == 1
    headers = error_headers(letters[0].headers())
    assert headers["class"] == "WrongAnnotator" and ann2 in headers["message"] and ann1 in headers["message"]
    assert headers["topic"] == "label-studio" and letters[0].key() == b"item-a4"

    # The bridge spoke for both annotators, and asked for work as their queues had room.
    events = decoded(settings, "annotator-events")
    kinds = Counter((e["annotator_id"], e["event_type"]) for e in events)
    assert kinds[(ann1, "ONLINE")] >= 1 and kinds[(ann2, "ONLINE")] >= 1
    assert kinds[(ann1, "READY")] >= 1 and kinds[(ann2, "READY")] >= 1
    assert all(1 <= e["ready_for"] <= 5 for e in events if e["event_type"] == "READY")

    # Its metrics, as Prometheus would scrape them.
    assert scrape.total(metrics, "alstream_label_studio_tasks_imported_total", outcome="created") == 5
    assert scrape.total(metrics, "alstream_label_studio_annotations_read_total", outcome="label") == 3
    assert scrape.total(metrics, "alstream_label_studio_annotations_read_total", outcome="skip") == 1
    assert scrape.total(metrics, "alstream_label_studio_annotations_read_total", outcome="edit") == 1
    assert scrape.total(metrics, "alstream_label_studio_annotations_read_total", outcome="rejected") == 1
    assert scrape.total(metrics, "alstream_label_studio_annotation_lag_seconds_count") == 5
    assert scrape.total(metrics, "alstream_label_studio_accounts_created_total") == 2
    assert scrape.total(metrics, "alstream_label_studio_last_poll_timestamp_seconds") > 0


def labels_of_assignment(labels: list[dict[str, Any]], assignment_id: str) -> list[dict[str, Any]]:
    return [x for x in labels if x["assignment_id"] == assignment_id]


def test_a_webhook_starts_the_poll_at_once(
    topics: AlstreamSettings, label_studio: LocalLabelStudio, bridge_env: dict[str, str], tmp_path: Path
) -> None:
    """With a two-minute poll interval, only the webhook hint can bring the label within the wait."""
    hint_port = free_port()
    env = {
        **bridge_env,
        "ALSTREAM_LABEL_STUDIO__POLL_INTERVAL_S": "120",
        "ALSTREAM_LABEL_STUDIO__WEBHOOK_PORT": str(hint_port),
        "ALSTREAM_LABEL_STUDIO__DATA_TYPE": "image",
    }
    ann1 = json.loads(env["ALSTREAM_LABEL_STUDIO__ANNOTATORS"])[0]
    title = f"alstream: {env['ALSTREAM_TASK__NAME']}"
    produce_assignments(topics, [work("w1", ann1, 9)])
    log = tmp_path / "bridge.log"
    bridge = start_bridge(env, log)
    try:
        tasks = wait_until(
            lambda: project_tasks(label_studio, title),
            timeout_s=60,
            what="the task, imported by the first cycle",
            diagnose=lambda: log_tail(log),
        )
        person = PersonSession(label_studio, email=f"{ann1}@alstream.local", password=ANNOTATOR_PASSWORD)
        try:
            person.annotate(tasks[0]["id"], "cat", lead_time=0.1)
        finally:
            person.close()
        wait_until(
            lambda: [x for x in decoded(topics, "labels") if x["assignment_id"] == "w1"],
            timeout_s=60,
            what="the label, well before the next regular poll",
            diagnose=lambda: log_tail(log),
        )
        hints = scrape.total(
            scrape.scrape(int(env["ALSTREAM_METRICS__PORT"])), "alstream_label_studio_webhook_hints_total"
        )
        assert hints >= 1
    finally:
        assert stop_bridge(bridge) == 0, log_tail(log)
