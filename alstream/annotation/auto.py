"""A simulated annotator for demos and tests: answers from a truth file with a set accuracy and speed.

``drift_after`` / ``drift_accuracy`` make it worse after N labels, which is how the demo causes a
disagreement spike on overlapped items (and so a calibration round).
"""

from __future__ import annotations

import csv
import random
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from alstream.annotation.exceptions import AnnotationError, InvalidLabel


class _Client(Protocol):
    annotator_id: str

    def online(self) -> None: ...
    def offline(self) -> None: ...
    def ready(self, n: int = 1) -> None: ...
    def assignments(self, timeout_s: float = 1.0) -> list[dict[str, Any]]: ...
    def submit(
        self,
        assignment: dict[str, Any],
        *,
        value: str | None = None,
        started_at: datetime,
        status: str = "LABELED",
    ) -> str: ...
    def flush(self, timeout_s: float | None = None) -> None: ...


def load_truth(path: Path | str | None) -> dict[str, str]:
    """item_id -> true label from a CSV with columns item_id,label (the demo writes it)."""
    if path is None:
        return {}
    file = Path(path)
    if not file.is_file():
        raise AnnotationError(f"truth file {file} does not exist")
    with file.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"item_id", "label"} <= set(reader.fieldnames):
            raise AnnotationError(
                f"truth file {file} needs the columns item_id,label (found {reader.fieldnames})"
            )
        return {row["item_id"]: row["label"] for row in reader}


@dataclass
class Summary:
    annotator_id: str
    labeled: int = 0
    correct: int = 0
    known: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    started: datetime = field(default_factory=lambda: datetime.now(tz=UTC))

    def line(self) -> str:
        seconds = (datetime.now(tz=UTC) - self.started).total_seconds()
        accuracy = f"{self.correct / self.known:.2f}" if self.known else "n/a"
        kinds = ",".join(f"{k}:{n}" for k, n in sorted(self.kinds.items())) or "-"
        return (
            f"annotator={self.annotator_id} labeled={self.labeled} correct={self.correct}/{self.known} "
            f"accuracy={accuracy} kinds={kinds} seconds={seconds:.1f}"
        )


class SimulatedAnnotator:
    """Asks for work, 'labels' it after ``seconds_per_item``, until ``max_items`` or ``stop`` is set."""

    def __init__(
        self,
        *,
        client: _Client,
        truth: dict[str, str],
        accuracy: float = 0.9,
        seconds_per_item: float = 0.0,
        max_items: int | None = None,
        drift_after: int | None = None,
        drift_accuracy: float | None = None,
        batch: int = 5,
        seed: int | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        if not 0.0 <= accuracy <= 1.0 or (drift_accuracy is not None and not 0.0 <= drift_accuracy <= 1.0):
            raise AnnotationError("accuracy must be between 0 and 1")
        self.client = client
        self.truth = truth
        self.accuracy = accuracy
        self.seconds_per_item = seconds_per_item
        self.max_items = max_items
        self.drift_after = drift_after
        self.drift_accuracy = drift_accuracy
        self.batch = batch
        self.rng = random.Random(seed)
        self.stop = stop or threading.Event()
        self.summary = Summary(annotator_id=client.annotator_id)

    def current_accuracy(self) -> float:
        if (
            self.drift_after is not None
            and self.drift_accuracy is not None
            and self.summary.labeled >= self.drift_after
        ):
            return self.drift_accuracy
        return self.accuracy

    def answer(self, assignment: dict[str, Any]) -> str:
        classes: list[str] = assignment["classes"]
        true = self.truth.get(assignment["item_id"])
        if true is None or true not in classes:
            return self.rng.choice(classes)
        if self.rng.random() < self.current_accuracy() or len(classes) == 1:
            return true
        return self.rng.choice([c for c in classes if c != true])

    def _done(self) -> bool:
        return self.stop.is_set() or (self.max_items is not None and self.summary.labeled >= self.max_items)

    def run(self) -> Summary:
        self.client.online()
        try:
            while not self._done():
                wanted = (
                    self.batch
                    if self.max_items is None
                    else min(self.batch, self.max_items - self.summary.labeled)
                )
                self.client.ready(max(1, wanted))
                for assignment in self.client.assignments(timeout_s=1.0):
                    if self._done():
                        break
                    self._label(assignment)
        finally:
            self.client.offline()  # unlabeled work goes back to the pool at once
            self.client.flush()
        return self.summary

    def _label(self, assignment: dict[str, Any]) -> None:
        started = datetime.now(tz=UTC)
        if self.seconds_per_item > 0:
            # People are not metronomes: log-normal spread around the configured mean time per item.
            self.stop.wait(self.seconds_per_item * self.rng.lognormvariate(-0.045, 0.3))
        value = self.answer(assignment)
        try:
            self.client.submit(assignment, value=value, started_at=started)
        except InvalidLabel as exc:
            if exc.reason != "LateLabel":
                raise
            return  # too slow: the lease expired and the item went back to the pool (not labeled)
        true = self.truth.get(assignment["item_id"])
        self.summary.labeled += 1
        self.summary.kinds[assignment.get("kind") or "hidden"] += 1
        if true is not None:
            self.summary.known += 1
            self.summary.correct += int(value == true)
