"""Calibration rounds the agreement agent called, as the router needs them: who, which items, until when.

Rounds are few and small (20-50 items), so every router worker keeps all recent rounds in memory, read
from the single-partition calibration topic from its start (see :mod:`alstream.agents.router.app`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class CalibrationRound:
    calibration_id: str
    detected_at_ms: int
    annotator_ids: frozenset[str]
    items: tuple[tuple[str, str | None], ...]  # (item_id, predicted_class), most contested first


def _ms(value: datetime | int) -> int:
    return value if isinstance(value, int) else int(value.timestamp() * 1000)


class CalibrationBook:
    """Thread-safe set of calibration rounds (a reader thread adds, the router agent reads)."""

    def __init__(self, *, max_age_ms: int) -> None:
        self.max_age_ms = max_age_ms
        self._rounds: dict[str, CalibrationRound] = {}
        self._lock = threading.Lock()

    def add_event(self, event: dict[str, Any]) -> CalibrationRound:
        """Record a decoded calibration event (idempotent by calibration_id)."""
        round_ = CalibrationRound(
            calibration_id=event["calibration_id"],
            detected_at_ms=_ms(event["detected_at"]),
            annotator_ids=frozenset(event["annotator_ids"]),
            items=tuple((item["item_id"], item.get("predicted_class")) for item in event["items"]),
        )
        with self._lock:
            self._rounds.setdefault(round_.calibration_id, round_)
        return round_

    def rounds_for(self, annotator_id: str, *, now_ms: int) -> list[CalibrationRound]:
        """Recent rounds that include the annotator, oldest first."""
        with self._lock:
            rounds = list(self._rounds.values())
        horizon = now_ms - self.max_age_ms
        return sorted(
            (r for r in rounds if annotator_id in r.annotator_ids and r.detected_at_ms >= horizon),
            key=lambda r: r.detected_at_ms,
        )

    def __len__(self) -> int:
        return len(self._rounds)
