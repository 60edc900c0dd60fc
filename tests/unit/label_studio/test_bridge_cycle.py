"""The bridge's cycle against a Label Studio and an annotation SDK held in memory: the failure paths a
real server rarely shows on demand (refused imports, an unacknowledged broker, hostile annotations)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alstream.agents.label_studio.bridge import Bridge
from alstream.agents.label_studio.config import LabelStudioSettings
from alstream.agents.label_studio.exceptions import LabelStudioUnavailable
from alstream.agents.label_studio.state import BridgeState
from alstream.annotation.exceptions import AnnotationError
from tests.support.records import assignment

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


class FakeLabelStudio:
    base_url = "http://ls.test"

    def __init__(self) -> None:
        self.tasks: dict[int, dict[str, Any]] = {}
        self.users_list = [{"id": 1, "email": "admin@x"}, {"id": 2, "email": "ann@alstream.local"}]
        self.refuse_create = False
        self.created = 0

    def whoami(self) -> dict[str, Any]:
        return {"id": 1}

    def find_project(self, title: str) -> dict[str, Any] | None:
        return None

    def create_project(self, **_: Any) -> dict[str, Any]:
        return {"id": 1}

    def views(self, project_id: int) -> list[dict[str, Any]]:
        return []

    def create_view(self, project_id: int, **_: Any) -> dict[str, Any]:
        return {}

    def find_task(self, project_id: int, assignment_id: str) -> dict[str, Any] | None:
        return next((t for t in self.tasks.values() if t["data"]["assignment_id"] == assignment_id), None)

    def create_task(self, project_id: int, data: dict[str, Any]) -> int:
        if self.refuse_create:
            raise LabelStudioUnavailable("down")
        task_id = len(self.tasks) + 1
        self.tasks[task_id] = {
            "id": task_id,
            "data": data,
            "annotations": [],
            "created_at": iso(NOW),
            "updated_at": iso(NOW),
        }
        self.created += 1
        return task_id

    def task(self, task_id: int) -> dict[str, Any]:
        return self.tasks[task_id]

    def delete_task(self, task_id: int) -> None:
        del self.tasks[task_id]

    def tasks_updated_since(self, project_id: int, since: datetime) -> list[dict[str, Any]]:
        return sorted(self.tasks.values(), key=lambda t: t["updated_at"])

    def users(self) -> list[dict[str, Any]]:
        return self.users_list

    def annotate(self, task_id: int, value: Any, *, by: int = 2, at: datetime = NOW, **extra: Any) -> None:
        task = self.tasks[task_id]
        task["annotations"] = [
            {
                "id": 100 + task_id,
                "result": [{"from_name": "label", "value": {"choices": [value]}}],
                "completed_by": by,
                "lead_time": 3.0,
                "updated_at": iso(at),
                **extra,
            }
        ]
        task["updated_at"] = iso(at)


class FakeChannel:
    def __init__(self, annotator_id: str) -> None:
        self.annotator_id = annotator_id
        self.inbox: list[dict[str, Any]] = []
        self.acknowledged = 0
        self.sent: list[dict[str, Any]] = []
        self.events: list[tuple[str, int]] = []
        self.fail_flush = False

    def online(self) -> None:
        self.events.append(("ONLINE", 0))

    def offline(self) -> None:
        self.events.append(("OFFLINE", 0))

    def ready(self, n: int = 1) -> None:
        self.events.append(("READY", n))

    def assignments(self, timeout_s: float = 1.0) -> list[dict[str, Any]]:
        out, self.inbox = self.inbox, []
        return out

    def acknowledge(self) -> None:
        self.acknowledged += 1

    def submit(self, assignment: dict[str, Any], **label: Any) -> str:
        self.sent.append({"assignment_id": assignment["assignment_id"], **label})
        return label["label_id"]

    def flush(self, timeout_s: float = 15.0) -> None:
        if self.fail_flush:
            raise AnnotationError("broker refused")

    def close(self) -> None:
        pass


class FakeDeadLetters:
    def __init__(self) -> None:
        self.letters: list[tuple[str, BaseException]] = []

    def send(self, *, key: str, value: bytes, error: BaseException) -> None:
        self.letters.append((key, error))

    def flush(self) -> None:
        pass


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def world(tmp_path: Path) -> tuple[Bridge, FakeLabelStudio, FakeChannel, FakeDeadLetters]:
    config = LabelStudioSettings(url="http://ls.test", api_token="t", annotators=["ann"], data_type="image")
    api = FakeLabelStudio()
    channel = FakeChannel("ann")
    dead = FakeDeadLetters()
    clock = [NOW.timestamp()]
    bridge = Bridge(
        config=config,
        task_name="t",
        task_classes=["cat", "dog"],
        api=api,  # type: ignore[arg-type]
        state=BridgeState(tmp_path / "s.sqlite3"),
        open_channel=lambda _: channel,
        dead_letters=dead,
        clock=lambda: clock[0],
    )
    bridge.start()
    return bridge, api, channel, dead


def work(assignment_id: str, **overrides: Any) -> dict[str, Any]:
    return assignment(
        assignment_id, item_id=f"item-{assignment_id}", classes=["cat", "dog"], assigned_at=NOW, **overrides
    )


def test_an_import_refused_by_label_studio_is_not_acknowledged_and_retried(world) -> None:  # type: ignore[no-untyped-def]
    bridge, api, channel, _ = world
    channel.inbox = [work("a1"), work("a2")]
    api.refuse_create = True
    bridge.cycle()
    assert channel.acknowledged == 0 and api.created == 0
    api.refuse_create = False
    bridge.cycle()
    assert channel.acknowledged == 1 and api.created == 2
    channel.inbox = [work("a1")]  # the router re-sends an open lease after its restart
    bridge.cycle()
    assert api.created == 2


def test_a_task_already_in_label_studio_is_adopted_not_duplicated(world) -> None:  # type: ignore[no-untyped-def]
    bridge, api, channel, _ = world
    api.create_task(1, {"item": "", "item_id": "item-a1", "assignment_id": "a1", "annotator": "ann"})
    channel.inbox = [work("a1")]
    bridge.cycle()
    assert api.created == 1 and bridge.state.task_for("a1").task_id == 1  # type: ignore[union-attr]


def test_labels_not_acknowledged_by_the_broker_are_sent_again_with_the_same_id(world) -> None:  # type: ignore[no-untyped-def]
    bridge, api, channel, _ = world
    channel.inbox = [work("a1")]
    bridge.cycle()
    api.annotate(1, "dog")
    channel.fail_flush = True
    with pytest.raises(AnnotationError):
        bridge.cycle()
    assert bridge.state.version_of(101) is None  # not recorded: the next poll reads it again
    channel.fail_flush = False
    bridge.cycle()
    bridge.cycle()
    first, second = channel.sent
    assert first == second and first["value"] == "dog" and first["status"] == "LABELED"


def test_hostile_annotations_are_dead_lettered_and_the_poll_goes_on(world) -> None:  # type: ignore[no-untyped-def]
    bridge, api, channel, dead = world
    channel.inbox = [work("a1"), work("a2"), work("a3"), work("a4")]
    bridge.cycle()
    api.annotate(1, "wolf")
    api.annotate(2, "dog", by=1)  # the administrator is no annotator
    api.annotate(3, "cat", lead_time={"a": 1}, updated_at=object())
    api.tasks[3]["updated_at"] = iso(NOW)
    api.annotate(4, "cat")
    bridge.cycle()
    assert [type(e).__name__ for _, e in dead.letters] == [
        "NoChoice",
        "UnknownAnnotator",
        "MalformedAnnotation",
    ]
    assert [s["assignment_id"] for s in channel.sent] == ["a4"]
    bridge.cycle()
    assert len(dead.letters) == 3 and len(channel.sent) == 1  # nothing twice


def test_going_offline_empties_the_queue_but_keeps_answered_tasks(world) -> None:  # type: ignore[no-untyped-def]
    bridge, api, channel, _ = world
    channel.inbox = [work("a1"), work("a2")]
    bridge.cycle()
    api.annotate(1, "cat", at=NOW - timedelta(hours=2))
    bridge.presence.last_activity["ann"] = NOW.timestamp() - 10_000
    bridge.cycle()
    assert ("OFFLINE", 0) in channel.events
    assert list(api.tasks) == [1]  # the unanswered task left the queue; the answered one stays
    assert [s["value"] for s in channel.sent] == ["cat"]


def test_expired_leases_leave_the_queue(world) -> None:  # type: ignore[no-untyped-def]
    bridge, api, channel, _ = world
    channel.inbox = [work("a1", lease_s=60.0)]
    bridge.cycle()
    assert list(api.tasks) == [1]
    bridge.clock = lambda: NOW.timestamp() + 61
    bridge.cycle()
    assert api.tasks == {} and bridge.state.open_tasks() == []
