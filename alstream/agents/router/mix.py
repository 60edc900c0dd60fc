"""Pure quota and work-mix decisions for one annotator: no Kafka, no clock, no randomness.

Kept apart from the stream plumbing so property-based tests can drive it over simulated days. The rules:

* hard items in any rolling 24 h never exceed ``max_hard_per_day``;
* a hard item is only given if, counting it, the rolling day's non-hard share stays at or above
  ``min_normal_share`` (so the share holds after every assignment);
* QA gold and random-slice items are injected whenever the annotator's rolling-day count of them falls
  below ``rate x (assignments + 1)``, rounded down (so the 20th item is QA at a 5 % rate);
* otherwise hard work is preferred (that is the point of active learning), then normal work, then any
  non-hard work, which also restores the normal share.

Calibration work is outside the mix: it is neither counted nor limited here.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from alstream.agents.router.pool import FRESH, HARD, NORMAL, QA, RANDOM
from alstream.agents.router.quotas import Quotas

DAY_MS = 24 * 3600 * 1000
_EPS = 1e-9


@dataclass
class RollingDay:
    """An annotator's assignments of the last 24 h: (assigned_at_ms, source), oldest first."""

    entries: deque[tuple[int, str]] = field(default_factory=deque)

    def prune(self, now_ms: int) -> None:
        horizon = now_ms - DAY_MS
        while self.entries and self.entries[0][0] <= horizon:
            self.entries.popleft()

    def add(self, at_ms: int, source: str) -> None:
        self.entries.append((at_ms, source))

    def counts(self, now_ms: int) -> MixCounts:
        self.prune(now_ms)
        total = len(self.entries)
        by: dict[str, int] = {}
        for _, source in self.entries:
            by[source] = by.get(source, 0) + 1
        return MixCounts(total=total, hard=by.get(HARD, 0), random=by.get(RANDOM, 0), qa=by.get(QA, 0))

    def to_record(self) -> list[list[object]]:
        return [[at, source] for at, source in self.entries]

    @classmethod
    def from_record(cls, record: Iterable[list[object]]) -> RollingDay:
        return cls(deque((int(at), str(source)) for at, source in record))  # type: ignore[call-overload]


@dataclass(frozen=True)
class MixCounts:
    total: int
    hard: int
    random: int
    qa: int

    @property
    def normal_share(self) -> float:
        return 1.0 if self.total == 0 else (self.total - self.hard) / self.total


def hard_allowed(counts: MixCounts, quotas: Quotas) -> bool:
    """May the next assignment be hard without breaking the daily cap or the normal share?"""
    if counts.hard + 1 > quotas.max_hard_per_day:
        return False
    total_after = counts.total + 1
    normal_after = counts.total - counts.hard
    return normal_after + _EPS >= quotas.min_normal_share * total_after


def preference(counts: MixCounts, quotas: Quotas) -> list[str]:
    """Pool sources to try for the next assignment, best first. Never lists HARD when it is not allowed."""
    order: list[str] = []
    if counts.qa < math.floor(quotas.qa_rate * (counts.total + 1) + _EPS):
        order.append(QA)
    if counts.random < math.floor(quotas.random_share * (counts.total + 1) + _EPS):
        order.append(RANDOM)
    if hard_allowed(counts, quotas):
        order.append(HARD)
    for source in (NORMAL, FRESH, RANDOM, QA):
        if source not in order:
            order.append(source)
    return order


def quota_use(counts: MixCounts, quotas: Quotas) -> float:
    """Hard items in the rolling day over the cap, in 0-1 (1 when the cap is 0)."""
    if quotas.max_hard_per_day == 0:
        return 1.0
    return min(1.0, counts.hard / quotas.max_hard_per_day)
