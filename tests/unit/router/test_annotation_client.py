"""The reference client's pieces that need no broker: the simulated annotator and terminal parsing."""

from __future__ import annotations

import threading
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alstream.annotation.auto import SimulatedAnnotator, load_truth
from alstream.annotation.exceptions import AnnotationError
from alstream.annotation.terminal import parse_answer
from alstream.streams.partitioning import partition_for


class FakeClient:
    annotator_id = "sim"

    def __init__(self, n: int) -> None:
        now = datetime.now(tz=UTC)
        self.queue = [
            {
                "assignment_id": f"a{i}",
                "item_id": f"i{i}",
                "classes": ["cat", "dog", "fox"],
                "kind": "HARD",
                "lease_expires_at": now + timedelta(hours=1),
            }
            for i in range(n)
        ]
        self.labels: list[dict[str, Any]] = []
        self.events: list[str] = []

    def online(self) -> None:
        self.events.append("ONLINE")

    def offline(self) -> None:
        self.events.append("OFFLINE")

    def ready(self, n: int = 1) -> None:
        self.events.append(f"READY {n}")

    def assignments(self, timeout_s: float = 1.0) -> list[dict[str, Any]]:
        out, self.queue = self.queue[:3], self.queue[3:]
        return out

    def submit(
        self,
        assignment: dict[str, Any],
        *,
        value: str | None = None,
        started_at: datetime,
        status: str = "LABELED",
    ) -> str:
        self.labels.append({"item_id": assignment["item_id"], "value": value, "started_at": started_at})
        return "id"

    def flush(self, timeout_s: float = 15.0) -> None:
        pass


def test_simulated_accuracy_drift_and_max_items() -> None:
    client = FakeClient(400)
    truth = {f"i{i}": "dog" for i in range(400)}
    sim = SimulatedAnnotator(
        client=client,
        truth=truth,
        accuracy=1.0,
        max_items=300,
        drift_after=100,
        drift_accuracy=0.0,
        seed=3,
        stop=threading.Event(),
    )
    summary = sim.run()
    values = [label["value"] for label in client.labels]
    assert summary.labeled == 300 and len(values) == 300
    assert all(v == "dog" for v in values[:100]) and all(v != "dog" for v in values[100:])
    assert client.events[0] == "ONLINE" and client.events[-1] == "OFFLINE"
    assert "labeled=300" in summary.line() and "correct=100/300" in summary.line()


def test_truth_file_needs_its_columns(tmp_path: Path) -> None:
    good = tmp_path / "t.csv"
    good.write_text("item_id,label\nx,cat\n")
    assert load_truth(good) == {"x": "cat"}
    bad = tmp_path / "b.csv"
    bad.write_text("id,value\nx,cat\n")
    with pytest.raises(AnnotationError, match="item_id,label"):
        load_truth(bad)


def test_terminal_answers() -> None:
    classes = ["cat", "dog"]
    assert parse_answer("2", classes) == ("LABELED", "dog")
    assert parse_answer(" cat ", classes) == ("LABELED", "cat")
    assert parse_answer("s", classes) == ("SKIPPED", None)
    assert parse_answer("9", classes) is None


def test_partition_is_stable_and_in_range() -> None:
    assert partition_for("ann-1", 4) == zlib.crc32(b"ann-1") % 4  # librdkafka's keyed partitioning
    assert {partition_for(f"a{i}", 4) for i in range(100)} == {0, 1, 2, 3}
