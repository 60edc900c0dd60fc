"""Pure quota and work-mix decisions for one annotator on one shard: no Kafka, no clock, no randomness.

Kept apart from the stream plumbing so property-based tests can drive it over simulated days. ``n`` below
is the number of the annotator's mixed assignments in the rolling 24 h, counting the one being decided
(calibration work is outside the mix: neither counted nor limited here). The rules:

* **Hard work** (``HARD``): at most ``max_hard_per_day`` in the rolling day, and only while, counting it,
  at least ``min_normal_share`` of the rolling day is not hard.
* **QA gold and the random slice** follow a deficit schedule against their target shares ``qa_rate`` and
  ``random_share``: a source with target share ``r`` is *due* while its count is below
  ``floor(r * n + phase)``. Due work goes first, so whenever the pool has it the count is exactly
  ``floor(r * n + phase)``: within one item of ``r * n`` from the first assignment on (the first QA item
  at 5 % comes within the first 20), with no burst and no drought.
* **QA gold never goes above its schedule**: it measures annotators, it does not fill idle time.
* **The random slice fills in** when nothing else may be given (no normal work, hard work held back by
  the quota or the normal share), but only up to ``max_random_share``: its count stays at or below
  ``ceil(max_random_share * n)``.
* Otherwise hard work first (that is the point of active learning), then normal, then fresh-pool work.

When one kind of supply runs out its share falls below target (it is never made up by a burst beyond the
schedule); the other shares stay within their caps, and a READY the rules leave unserved is reported
with the rule that held the work back (:mod:`alstream.agents.router.reasons`).

Phases: shard ``k`` of ``S`` starts the annotator's schedule of a source at ``(u + k) / S`` with ``u`` a
per-annotator constant in [0, 1). Each shard runs its own schedule (shards share no state), and by
Hermite's identity ``sum_k floor(x + (u + k) / S) = floor(S * x + u)`` the shards together follow the
one-shard schedule ``floor(r * N + u)`` when they serve the annotator evenly. Without the stagger every
shard would reach its first QA slot together, after ``S / r`` items.
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from alstream.agents.router.pool import FRESH, HARD, NORMAL, QA, RANDOM
from alstream.agents.router.quotas import Quotas
from alstream.agents.router.reasons import HARD_QUOTA, MIX_SHARE, NORMAL_SHARE

DAY_MS = 24 * 3600 * 1000
_EPS = 1e-9


def unit_fraction(text: str) -> float:
    """Deterministic uniform number in [0, 1) from a string (same on every worker and restart)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") / 2**64


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


@dataclass(frozen=True)
class MixPhase:
    """Where one annotator's QA and random-slice schedules start on one shard, each in [0, 1)."""

    qa: float = 0.0
    random: float = 0.0

    @classmethod
    def of(cls, annotator_id: str, *, shard: int, shards: int) -> MixPhase:
        """Staggered over the shards so that together they follow one schedule (module docstring)."""
        return cls(
            qa=(unit_fraction(f"mix/qa/{annotator_id}") + shard) / shards,
            random=(unit_fraction(f"mix/random/{annotator_id}") + shard) / shards,
        )


@dataclass(frozen=True)
class MixPlan:
    """The sources to try for the next assignment, best first, and what keeps each other source out."""

    order: tuple[str, ...]
    blocked: dict[str, str]  # source -> reason (reasons.HARD_QUOTA / NORMAL_SHARE / MIX_SHARE)


def scheduled(rate: float, n: int, phase: float) -> int:
    """How many of a source with target share ``rate`` the first ``n`` mixed assignments hold."""
    return math.floor(rate * n + phase + _EPS)


def random_cap(quotas: Quotas, n: int) -> int:
    """Most random-slice items ``n`` mixed assignments may hold (also as filler)."""
    return math.ceil(max(quotas.max_random_share, quotas.random_share) * n - _EPS)


def hard_blocked_by(counts: MixCounts, quotas: Quotas) -> str | None:
    """Why the next assignment may not be hard (None: it may)."""
    if counts.hard + 1 > quotas.max_hard_per_day:
        return HARD_QUOTA
    normal_after = counts.total - counts.hard
    if normal_after + _EPS < quotas.min_normal_share * (counts.total + 1):
        return NORMAL_SHARE
    return None


def hard_allowed(counts: MixCounts, quotas: Quotas) -> bool:
    """May the next assignment be hard without breaking the daily cap or the normal share?"""
    return hard_blocked_by(counts, quotas) is None


def plan(counts: MixCounts, quotas: Quotas, phase: MixPhase = MixPhase()) -> MixPlan:
    """The preference order for the next assignment under the rules of the module docstring."""
    n = counts.total + 1
    order: list[str] = []
    blocked: dict[str, str] = {}
    if counts.qa < scheduled(quotas.qa_rate, n, phase.qa):
        order.append(QA)
    else:
        blocked[QA] = MIX_SHARE
    random_due = counts.random < scheduled(quotas.random_share, n, phase.random)
    if random_due:
        order.append(RANDOM)
    why_not_hard = hard_blocked_by(counts, quotas)
    if why_not_hard is None:
        order.append(HARD)
    else:
        blocked[HARD] = why_not_hard
    order += [NORMAL, FRESH]
    if not random_due:
        if counts.random < random_cap(quotas, n):
            order.append(RANDOM)
        else:
            blocked[RANDOM] = MIX_SHARE
    return MixPlan(order=tuple(order), blocked=blocked)


def preference(counts: MixCounts, quotas: Quotas, phase: MixPhase = MixPhase()) -> list[str]:
    """Pool sources to try for the next assignment, best first. Never lists a source the rules hold back."""
    return list(plan(counts, quotas, phase).order)


def quota_use(counts: MixCounts, quotas: Quotas) -> float:
    """Hard items in the rolling day over the cap, in 0-1 (1 when the cap is 0)."""
    if quotas.max_hard_per_day == 0:
        return 1.0
    return min(1.0, counts.hard / quotas.max_hard_per_day)
