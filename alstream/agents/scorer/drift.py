"""Drift check on the fixed random slice: population stability index, this period against the last.

The random slice is the only unbiased view of the stream, so drift is measured on it alone: the
score distribution (bins = deciles of the reference period) and the predicted-class distribution.
When either PSI exceeds the policy's threshold (both periods having enough samples), the domain is
reported shifted and the scorer sends a share of high-confidence items to humans too, because
confidence lies in shifted domains. State survives restarts in a small JSON file.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

_SAMPLE_CAP = 5_000
_EPS = 1e-4


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index between two count (or share) vectors over the same bins."""
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.sum() <= 0 or a.sum() <= 0:
        return 0.0
    e = np.clip(e / e.sum(), _EPS, None)
    a = np.clip(a / a.sum(), _EPS, None)
    return float(np.sum((a - e) * np.log(a / e)))


class Period:
    """Scores (bounded deterministic sample) and class counts seen in one period."""

    def __init__(
        self,
        *,
        started: float,
        scores: list[float] | None = None,
        classes: dict[str, int] | None = None,
        seen: int = 0,
    ) -> None:
        self.started = started
        self.scores = scores or []
        self.classes = classes or {}
        self.seen = seen

    def add(self, scores: np.ndarray, predicted: Sequence[str | None]) -> None:
        for value in scores.tolist():
            self.seen += 1
            if len(self.scores) < _SAMPLE_CAP:
                self.scores.append(value)
            else:  # systematic thinning keeps the sample bounded and spread over the period
                self.scores[self.seen % _SAMPLE_CAP] = value
        for label in predicted:
            if label is not None:
                self.classes[label] = self.classes.get(label, 0) + 1

    def to_json(self) -> dict[str, Any]:
        return {"started": self.started, "scores": self.scores, "classes": self.classes, "seen": self.seen}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Period:
        return cls(
            started=data["started"],
            scores=list(data["scores"]),
            classes=dict(data["classes"]),
            seen=data["seen"],
        )


class DriftMonitor:
    """Compares the random slice's current period with the previous one; ``shifted`` while PSI is high."""

    def __init__(
        self,
        *,
        period_s: float,
        threshold: float,
        min_samples: int,
        state_file: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.period_s = period_s
        self.threshold = threshold
        self.min_samples = min_samples
        self.state_file = state_file
        self.clock = clock
        self.reference: Period | None = None
        self.current = Period(started=clock())
        self.psi_score = 0.0
        self.psi_class = 0.0
        self.shifted = False
        self._load()

    def add(self, scores: np.ndarray, predicted: Sequence[str | None]) -> None:
        """Record random-slice items; rolls the period over when it is due and re-evaluates."""
        now = self.clock()
        if now - self.current.started >= self.period_s:
            self.reference, self.current = self.current, Period(started=now)
            self.save()
        if len(scores):
            self.current.add(np.asarray(scores, dtype=np.float64), predicted)
        self.evaluate()

    def evaluate(self) -> bool:
        ref, cur = self.reference, self.current
        if ref is None or ref.seen < self.min_samples or cur.seen < self.min_samples:
            self.psi_score = self.psi_class = 0.0
            self.shifted = False
            return False
        edges = np.unique(np.quantile(np.asarray(ref.scores), np.linspace(0, 1, 11)[1:-1]))
        ref_bins = np.bincount(np.searchsorted(edges, ref.scores, side="right"), minlength=len(edges) + 1)
        cur_bins = np.bincount(np.searchsorted(edges, cur.scores, side="right"), minlength=len(edges) + 1)
        self.psi_score = psi(ref_bins, cur_bins)
        labels = sorted(set(ref.classes) | set(cur.classes))
        self.psi_class = (
            psi(
                np.array([ref.classes.get(c, 0) for c in labels]),
                np.array([cur.classes.get(c, 0) for c in labels]),
            )
            if labels
            else 0.0
        )
        was = self.shifted
        self.shifted = max(self.psi_score, self.psi_class) > self.threshold
        if self.shifted != was:
            log.warning(
                "drift check: domain shift %s (PSI score=%.3f class=%.3f, threshold %.3f)",
                "DETECTED" if self.shifted else "cleared",
                self.psi_score,
                self.psi_class,
                self.threshold,
            )
        return self.shifted

    def save(self) -> None:
        if self.state_file is None:
            return
        body = {
            "reference": self.reference.to_json() if self.reference else None,
            "current": self.current.to_json(),
        }
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(body), encoding="utf-8")
        tmp.replace(self.state_file)

    def _load(self) -> None:
        if self.state_file is None or not self.state_file.exists():
            return
        try:
            body = json.loads(self.state_file.read_text(encoding="utf-8"))
            self.reference = Period.from_json(body["reference"]) if body.get("reference") else None
            self.current = Period.from_json(body["current"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("drift state %s unreadable, starting afresh: %s", self.state_file, exc)
        self.evaluate()
