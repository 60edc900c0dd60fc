"""Collecting the k answers of each overlap group and closing the group.

The router hands out the k copies of an overlapped item on demand, so a group's assignments appear
over time. A group closes when ``overlap_k`` annotators answered, or, if some never do (leases
expire, annotators go offline), ``settle_s`` after its last activity with whatever it has. Closed
group ids are remembered so a late or replayed label cannot reopen one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alstream.contracts.enums import ANSWERED
from alstream.streams.bounded import BoundedMap


@dataclass
class OpenGroup:
    item_id: str
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # annotator_id -> label
    last_activity: float = 0.0


@dataclass(frozen=True)
class ClosedGroup:
    overlap_group: str
    item_id: str
    answers: dict[str, dict[str, Any]]

    @property
    def ratings(self) -> dict[str, str]:
        return {a: lab["value"] for a, lab in self.answers.items() if lab["status"] == ANSWERED}

    @property
    def root_causes(self) -> tuple[str, ...]:
        return tuple(lab["root_cause"] for lab in self.answers.values() if lab.get("root_cause"))

    @property
    def completed_at(self) -> datetime:
        return max(lab["submitted_at"] for lab in self.answers.values())


class OverlapTracker:
    def __init__(self, *, overlap_k: int, settle_s: float, max_closed: int = 1_000_000) -> None:
        self.overlap_k = overlap_k
        self.settle_s = settle_s
        self.open: dict[str, OpenGroup] = {}
        self.closed: BoundedMap[str, bool] = BoundedMap(max_size=max_closed)

    def add(self, overlap_group: str, label: dict[str, Any], now: float) -> ClosedGroup | None:
        """Record one validated answer; returns the group if this answer closed it."""
        if overlap_group in self.closed:
            return None
        group = self.open.setdefault(overlap_group, OpenGroup(item_id=label["item_id"]))
        group.answers.setdefault(label["annotator_id"], label)  # one answer per annotator: the first
        group.last_activity = now
        if len(group.answers) >= self.overlap_k:
            return self._close(overlap_group)
        return None

    def sweep(self, now: float) -> list[ClosedGroup]:
        """Close groups idle for ``settle_s`` (those with fewer than two answers close without a verdict)."""
        stale = [g for g, group in self.open.items() if now - group.last_activity >= self.settle_s]
        return [self._close(g) for g in stale]

    def _close(self, overlap_group: str) -> ClosedGroup:
        group = self.open.pop(overlap_group)
        self.closed[overlap_group] = True
        return ClosedGroup(overlap_group=overlap_group, item_id=group.item_id, answers=group.answers)
