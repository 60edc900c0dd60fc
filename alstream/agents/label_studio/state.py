"""The bridge's durable state in one SQLite file: which task carries which assignment, which annotation
versions became labels, and the poll watermark.

Every write is one transaction, so a bridge killed at any point restarts from a consistent state. What a
kill can leave behind is covered elsewhere: a task created but not yet recorded here is found again in
Label Studio by its assignment_id before anything is created; a label delivered but not yet recorded is
sent again with the same label_id, which the labels agent and releases ignore.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

OPEN, ANSWERED, REMOVED = "open", "answered", "removed"
SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    assignment_id TEXT PRIMARY KEY,
    task_id INTEGER NOT NULL,
    annotator_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    classes TEXT NOT NULL,
    lease_expires_ms INTEGER NOT NULL,
    imported_ms INTEGER NOT NULL,
    state TEXT NOT NULL,
    assigned_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_task ON tasks (task_id);
CREATE INDEX IF NOT EXISTS tasks_by_state ON tasks (state, annotator_id);
CREATE TABLE IF NOT EXISTS annotations (
    annotation_id INTEGER PRIMARY KEY,
    updated_at TEXT NOT NULL,
    lead_time REAL NOT NULL,
    label_id TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class TaskRecord:
    """One imported assignment, with what a label for it needs."""

    assignment_id: str
    task_id: int
    annotator_id: str
    item_id: str
    classes: list[str]
    lease_expires_ms: int
    imported_ms: int
    state: str
    assigned_ms: int

    def assignment(self) -> dict[str, Any]:
        """The assignment fields the annotation SDK's ``submit`` and the label contract read."""
        return {
            "assignment_id": self.assignment_id,
            "annotator_id": self.annotator_id,
            "item_id": self.item_id,
            "classes": list(self.classes),
            "assigned_at": datetime.fromtimestamp(self.assigned_ms / 1000, tz=UTC),
            "lease_expires_at": datetime.fromtimestamp(self.lease_expires_ms / 1000, tz=UTC),
        }


@dataclass(frozen=True)
class AnnotationVersion:
    """The last version of an annotation the bridge turned into a label (or dead-lettered)."""

    annotation_id: int
    updated_at: str
    lead_time: float
    label_id: str | None


class BridgeState:
    """Thread-compatible: one bridge process, one connection."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), isolation_level=None)  # explicit transactions below
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a committed mapping survives a power cut too
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    # ---- project -----------------------------------------------------------------------------------
    def get(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def put(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # ---- tasks --------------------------------------------------------------------------------------
    def record_task(self, assignment: dict[str, Any], *, task_id: int, imported_ms: int) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                assignment["assignment_id"],
                task_id,
                assignment["annotator_id"],
                assignment["item_id"],
                json.dumps(list(assignment["classes"])),
                int(assignment["lease_expires_at"].timestamp() * 1000),
                imported_ms,
                OPEN,
                int(assignment["assigned_at"].timestamp() * 1000),
            ),
        )

    def task_for(self, assignment_id: str) -> TaskRecord | None:
        row = self._db.execute("SELECT * FROM tasks WHERE assignment_id = ?", (assignment_id,)).fetchone()
        return None if row is None else _task(row)

    def task_by_id(self, task_id: int) -> TaskRecord | None:
        row = self._db.execute("SELECT * FROM tasks WHERE task_id = ?", (task_id,)).fetchone()
        return None if row is None else _task(row)

    def open_tasks(self, annotator_id: str | None = None) -> list[TaskRecord]:
        if annotator_id is None:
            rows = self._db.execute("SELECT * FROM tasks WHERE state = ?", (OPEN,))
        else:
            rows = self._db.execute(
                "SELECT * FROM tasks WHERE state = ? AND annotator_id = ?", (OPEN, annotator_id)
            )
        return [_task(row) for row in rows]

    def set_state(self, assignment_id: str, state: str) -> None:
        self._db.execute("UPDATE tasks SET state = ? WHERE assignment_id = ?", (state, assignment_id))

    # ---- annotations -------------------------------------------------------------------------------
    def version_of(self, annotation_id: int) -> AnnotationVersion | None:
        row = self._db.execute(
            "SELECT annotation_id, updated_at, lead_time, label_id FROM annotations WHERE annotation_id = ?",
            (annotation_id,),
        ).fetchone()
        return None if row is None else AnnotationVersion(int(row[0]), str(row[1]), float(row[2]), row[3])

    def commit_poll(
        self,
        versions: Iterable[AnnotationVersion],
        *,
        answered: Iterable[str],
        watermark: str | None,
    ) -> None:
        """Record handled annotation versions, answered assignments and the new watermark at once."""
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO annotations VALUES (?, ?, ?, ?)",
                [(v.annotation_id, v.updated_at, v.lead_time, v.label_id) for v in versions],
            )
            self._db.executemany(
                "UPDATE tasks SET state = ? WHERE assignment_id = ?", [(ANSWERED, a) for a in answered]
            )
            if watermark is not None:
                self.put("watermark", watermark)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _task(row: tuple[Any, ...]) -> TaskRecord:
    return TaskRecord(
        assignment_id=row[0],
        task_id=int(row[1]),
        annotator_id=row[2],
        item_id=row[3],
        classes=json.loads(row[4]),
        lease_expires_ms=int(row[5]),
        imported_ms=int(row[6]),
        state=row[7],
        assigned_ms=int(row[8]),
    )
