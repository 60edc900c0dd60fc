"""The bridge's SQLite state: idempotent records and one transaction per committed poll."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from alstream.agents.label_studio.state import ANSWERED, OPEN, AnnotationVersion, BridgeState
from tests.support.records import assignment


def test_tasks_and_versions_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "bridge.sqlite3"
    state = BridgeState(path)
    work = assignment("a1", assigned_at=datetime(2026, 11, 20, tzinfo=UTC))
    state.record_task(work, task_id=7, imported_ms=5)
    state.record_task({**work, "item_id": "other"}, task_id=8, imported_ms=6)  # a re-sent assignment
    state.commit_poll([AnnotationVersion(1, "t1", 2.5, "lab-1")], answered=["a1"], watermark="t1")
    state.close()

    reopened = BridgeState(path)
    record = reopened.task_for("a1")
    assert record is not None and (record.task_id, record.item_id, record.state) == (7, "it1", ANSWERED)
    assert record.assignment()["lease_expires_at"] == work["lease_expires_at"]
    assert reopened.task_by_id(8) is None
    assert reopened.version_of(1) == AnnotationVersion(1, "t1", 2.5, "lab-1")
    assert reopened.get("watermark") == "t1"
    assert reopened.open_tasks() == []


def test_a_failed_commit_records_nothing(tmp_path: Path) -> None:
    state = BridgeState(tmp_path / "bridge.sqlite3")
    state.record_task(assignment("a1"), task_id=7, imported_ms=5)

    def broken():  # type: ignore[no-untyped-def]
        yield AnnotationVersion(1, "t1", 1.0, "lab-1")
        raise RuntimeError("disk gone")

    with pytest.raises(RuntimeError):
        state.commit_poll(broken(), answered=["a1"], watermark="t9")
    assert state.version_of(1) is None and state.get("watermark") is None
    assert [r.state for r in state.open_tasks()] == [OPEN]
