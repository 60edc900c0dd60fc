"""Error rate on the stable QA set: the labeling lead's trusted quality number, overall and per annotator.

The gold answers come from the ``qa_gold_file`` CSV (item_id,label). Rates are rolling (last N checks)
so a drifting annotator shows up within days, not diluted by months of history.
"""

from __future__ import annotations

import csv
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from alstream.exceptions import ConfigError


def load_gold(path: Path | None) -> dict[str, str]:
    """item_id -> gold label. No file configured means no QA set (QA metrics stay at zero)."""
    if path is None:
        return {}
    try:
        with Path(path).open(newline="") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise ConfigError(
            f"qa_gold_file={path} is not readable ({exc}); fix ALSTREAM_PATHS__QA_GOLD_FILE"
        ) from exc
    if rows and rows[0][:2] == ["item_id", "label"]:
        rows = rows[1:]
    gold: dict[str, str] = {}
    for number, row in enumerate(rows, start=2):
        if len(row) < 2 or not row[0]:
            raise ConfigError(f"qa_gold_file={path} line {number}: expected item_id,label")
        gold[row[0]] = row[1]
    return gold


@dataclass(frozen=True)
class QaOutcome:
    """One QA check."""

    annotator_id: str
    correct: bool


class QaTracker:
    """Rolling QA error rates, overall and per annotator, with a bounded top-N export."""

    def __init__(self, *, gold: dict[str, str], window: int, top_n: int, min_checks: int) -> None:
        self.gold = gold
        self.window = window
        self.top_n = top_n
        self.min_checks = min_checks
        self._overall: deque[bool] = deque(maxlen=window)
        self._per_annotator: dict[str, deque[bool]] = {}

    def check(self, *, item_id: str, annotator_id: str, value: str | None) -> QaOutcome | None:
        """Score a LABELED answer if the item is gold; None for non-gold items."""
        expected = self.gold.get(item_id)
        if expected is None or value is None:
            return None
        correct = value == expected
        self._overall.append(not correct)
        self._per_annotator.setdefault(annotator_id, deque(maxlen=self.window)).append(not correct)
        return QaOutcome(annotator_id=annotator_id, correct=correct)

    def error_rate(self) -> float | None:
        return sum(self._overall) / len(self._overall) if self._overall else None

    def annotator_error_rate(self, annotator_id: str) -> float | None:
        errors = self._per_annotator.get(annotator_id)
        return sum(errors) / len(errors) if errors else None

    def worst_annotators(self) -> list[tuple[str, float]]:
        """Up to ``top_n`` annotators with at least ``min_checks`` checks, highest error rate first."""
        rated = [
            (annotator, sum(errors) / len(errors))
            for annotator, errors in self._per_annotator.items()
            if len(errors) >= self.min_checks
        ]
        rated.sort(key=lambda pair: (-pair[1], pair[0]))
        return rated[: self.top_n]
