"""A bridge killed with SIGKILL mid-stream and restarted: no duplicate task, no lost or doubled label.

Three kinds of crash are covered: one while assignments are being imported, one while annotations are
being turned into labels, and (set up by hand, since a kill cannot be aimed at it) the one between
creating a task in Label Studio and recording it in the bridge's state: the task already exists in
Label Studio when the bridge first sees its assignment.
"""

from __future__ import annotations

import json
import signal
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import pytest

from alstream.agents.label_studio.local_server import LocalLabelStudio
from alstream.agents.release.compaction import default_rules, valid_labels
from alstream.settings import AlstreamSettings
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
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]
PER_ANNOTATOR = 10


def test_sigkill_mid_stream_leaves_no_duplicate_task_and_no_lost_or_doubled_label(
    topics: AlstreamSettings, label_studio: LocalLabelStudio, tmp_path: Path, unique_id: str
) -> None:
    settings = topics
    annotators = [f"k1-{unique_id}", f"k2-{unique_id}"]
    env = bridge_environment(
        settings,
        label_studio,
        annotators=annotators,
        state_dir=tmp_path / "state",
        task_name=f"restart-{unique_id}",
        classes=CLASSES,
        ALSTREAM_LABEL_STUDIO__DATA_TYPE="image",
    )
    title = f"alstream: restart-{unique_id}"
    records = [work(f"{who[:2]}-{n:02d}", who, n) for who in annotators for n in range(PER_ANNOTATOR)]
    log = tmp_path / "bridge.log"

    # A bridge that created the first task and died before recording it.
    bridge = start_bridge(env, log)
    try:
        wait_until(
            lambda: project_tasks(label_studio, title) == [] and _project_exists(label_studio, title),
            timeout_s=60,
            what="the project",
            diagnose=lambda: log_tail(log),
        )
    finally:
        stop_bridge(bridge, signal.SIGKILL)
    orphan = records[0]
    with httpx.Client(base_url=label_studio.url, headers=admin_headers(label_studio)) as http:
        project_id = _project_id(http, title)
        http.post(
            "/api/tasks",
            json={
                "project": project_id,
                "data": {
                    "item": orphan["uri"],
                    "item_id": orphan["item_id"],
                    "assignment_id": orphan["assignment_id"],
                    "annotator": orphan["annotator_id"],
                },
            },
        ).raise_for_status()

    produce_assignments(settings, records)
    bridge = start_bridge(env, log)
    people: dict[str, PersonSession] = {}
    try:
        # Kill 1: while the assignments are being imported.
        wait_until(
            lambda: len(project_tasks(label_studio, title)) >= 6,
            timeout_s=120,
            what="some tasks imported",
            diagnose=lambda: log_tail(log),
        )
        stop_bridge(bridge, signal.SIGKILL)
        bridge = start_bridge(env, log)
        tasks = wait_until(
            lambda: (found := project_tasks(label_studio, title)) and len(found) >= len(records) and found,
            timeout_s=120,
            what="every assignment imported",
            diagnose=lambda: log_tail(log),
        )
        people = {
            who: PersonSession(label_studio, email=f"{who}@alstream.local", password=ANNOTATOR_PASSWORD)
            for who in annotators
        }
        ordered = sorted(tasks, key=lambda t: t["id"])
        half = len(ordered) // 2
        for task in ordered[:half]:
            people[task["data"]["annotator"]].annotate(task["id"], CLASSES[task["id"] % 3], lead_time=0.1)
        # Kill 2: while those annotations are being read and turned into labels.
        wait_until(
            lambda: decoded(settings, "labels"),
            timeout_s=60,
            what="a first label",
            diagnose=lambda: log_tail(log),
        )
        stop_bridge(bridge, signal.SIGKILL)
        for task in ordered[half:]:  # people keep working while the bridge is down
            people[task["data"]["annotator"]].annotate(task["id"], CLASSES[task["id"] % 3], lead_time=0.1)
        bridge = start_bridge(env, log)
        wait_until(
            lambda: (
                {x["assignment_id"] for x in decoded(settings, "labels")}
                >= {r["assignment_id"] for r in records}
            ),
            timeout_s=120,
            what="a label for every assignment",
            diagnose=lambda: log_tail(log),
        )
        assert bridge.poll() is None, log_tail(log)
    finally:
        for person in people.values():
            person.close()
        stop_bridge(bridge)

    tasks = project_tasks(label_studio, title)
    per_assignment = Counter(t["data"]["assignment_id"] for t in tasks)
    assert per_assignment == Counter({r["assignment_id"]: 1 for r in records}), "duplicate or missing tasks"

    labels = decoded(settings, "labels")
    label_ids_per_assignment: dict[str, set[str]] = defaultdict(set)
    for label in labels:
        label_ids_per_assignment[label["assignment_id"]].add(label["label_id"])
    assert {a: len(ids) for a, ids in label_ids_per_assignment.items()} == {
        r["assignment_id"]: 1 for r in records
    }, "an annotation became two different labels, or none"
    answers = {
        t["data"]["assignment_id"]: t["annotations"][0]["result"][0]["value"]["choices"][0] for t in tasks
    }
    assert {x["assignment_id"]: x["value"] for x in labels} == answers
    verdicts = valid_labels(labels, records, rules=default_rules(CLASSES))
    kept, excluded = verdicts.labels, verdicts.excluded
    assert len(kept) == len(records)
    assert set(excluded) <= {"duplicate"}  # a label re-sent after a kill carries the same label_id
    assert json.loads(env["ALSTREAM_LABEL_STUDIO__ANNOTATORS"]) == annotators


def _project_id(http: httpx.Client, title: str) -> int:
    projects = http.get("/api/projects", params={"page_size": 1000}).json()["results"]
    return next(p["id"] for p in projects if p["title"] == title)


def _project_exists(server: LocalLabelStudio, title: str) -> bool:
    with httpx.Client(base_url=server.url, headers=admin_headers(server)) as http:
        projects = http.get("/api/projects", params={"page_size": 1000}).json()["results"]
    return any(p["title"] == title for p in projects)
