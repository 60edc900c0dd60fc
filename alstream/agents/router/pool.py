"""The candidate pool of one router shard: highest score first, stale candidates age out, bounded.

Pure data structure (no Kafka, no clock of its own) so its guarantees are unit-testable. Every operation
is O(log n) amortised: one max-heap of scores per (source, required skills) bucket and one min-heap of
selection times per source, both with lazy deletion, over a dict of compact ``__slots__`` records.
"""

from __future__ import annotations

import heapq
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

# Where a candidate came from decides the assignment kind it becomes and whether it is "hard".
HARD, NORMAL, RANDOM, QA, FRESH = "HARD", "NORMAL", "RANDOM", "QA", "FRESH"
SOURCES = (HARD, NORMAL, RANDOM, QA, FRESH)
SOURCE_OF_REASON = {
    "TOP_SCORE": HARD,
    "SHIFT_REVIEW": NORMAL,
    "RANDOM_SLICE": RANDOM,
    "QA_GOLD": QA,
    "FRESH_POOL": FRESH,
}
REASON_OF_SOURCE = {source: reason for reason, source in SOURCE_OF_REASON.items()}
UNLIMITED = -1  # copies_left of QA gold items: every annotator may get each one once
# What one source of the pool holds for one annotator (see CandidatePool.supply).
AVAILABLE, SEEN_ALL, NEEDS_SKILLS, NO_SUPPLY = "available", "seen_all", "needs_skills", "no_supply"
_EMPTY: frozenset[str] = frozenset()


class PooledCandidate:
    """What the router must remember of a candidate to assign it (not its embedding)."""

    __slots__ = (
        "copies_left",
        "item_id",
        "model_version",
        "overlap_k",
        "policy_version",
        "predicted_class",
        "score",
        "selected_at_ms",
        "seq",
        "skills",
        "source",
        "unit_of_work",
        "uri",
    )

    def __init__(
        self,
        *,
        item_id: str,
        source: str,
        score: float,
        selected_at_ms: int,
        skills: frozenset[str] = _EMPTY,
        copies_left: int = 1,
        overlap_k: int = 0,
        uri: str | None = None,
        unit_of_work: str = "ITEM",
        policy_version: str = "",
        model_version: str = "",
        predicted_class: str | None = None,
    ) -> None:
        self.item_id = item_id
        self.source = source
        self.score = score
        self.skills = skills
        self.selected_at_ms = selected_at_ms
        self.copies_left = copies_left
        self.overlap_k = overlap_k
        # Versions and units repeat across millions of candidates: intern them.
        self.uri = uri
        self.unit_of_work = sys.intern(unit_of_work)
        self.policy_version = sys.intern(policy_version)
        self.model_version = sys.intern(model_version)
        self.predicted_class = sys.intern(predicted_class) if predicted_class is not None else None
        self.seq = 0

    def to_record(self) -> list[Any]:
        """JSON-friendly form for the changelog table."""
        return [
            self.item_id,
            self.source,
            self.score,
            sorted(self.skills),
            self.selected_at_ms,
            self.copies_left,
            self.overlap_k,
            self.uri,
            self.unit_of_work,
            self.policy_version,
            self.model_version,
            self.predicted_class,
        ]

    @classmethod
    def from_record(cls, record: list[Any]) -> PooledCandidate:
        (
            item_id,
            source,
            score,
            skills,
            selected_at_ms,
            copies_left,
            overlap_k,
            uri,
            unit,
            policy,
            model,
            predicted,
        ) = record
        return cls(
            item_id=item_id,
            source=source,
            score=score,
            skills=frozenset(skills),
            selected_at_ms=selected_at_ms,
            copies_left=copies_left,
            overlap_k=overlap_k,
            uri=uri,
            unit_of_work=unit,
            policy_version=policy,
            model_version=model,
            predicted_class=predicted,
        )

    @property
    def is_hard(self) -> bool:
        return self.source == HARD


@dataclass(frozen=True)
class Removed:
    """A candidate that left the pool without being assigned, and why (counted, never silent)."""

    item_id: str
    reason: str  # "aged_out", "evicted", "fresh_pool_refresh"


class CandidatePool:
    """Candidates of one shard, by source, best score first."""

    def __init__(self, *, max_size: int, max_age_ms: int, fresh_max: int, scan_limit: int = 64) -> None:
        self.max_size = max_size
        self.max_age_ms = max_age_ms
        self.fresh_max = fresh_max
        self.scan_limit = scan_limit
        self._entries: dict[str, PooledCandidate] = {}
        self._score_heaps: dict[tuple[str, frozenset[str]], list[tuple[float, int, str]]] = {}
        self._age_heaps: dict[str, list[tuple[int, int, str]]] = {source: [] for source in SOURCES}
        self._counts: dict[str, int] = dict.fromkeys(SOURCES, 0)
        self._seq = 0
        self._pushes_since_compact = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, item_id: str) -> bool:
        return item_id in self._entries

    def get(self, item_id: str) -> PooledCandidate | None:
        return self._entries.get(item_id)

    def depth(self) -> dict[str, int]:
        return dict(self._counts)

    def values(self) -> Iterable[PooledCandidate]:
        return self._entries.values()

    def add(self, candidate: PooledCandidate, *, now_ms: int) -> list[Removed]:
        """Pool a candidate (replacing an older record of the same item). Returns what had to make room."""
        old = self._entries.pop(candidate.item_id, None)
        if old is not None:
            self._counts[old.source] -= 1
        self._seq += 1
        candidate.seq = self._seq
        self._entries[candidate.item_id] = candidate
        self._counts[candidate.source] += 1
        heapq.heappush(
            self._score_heaps.setdefault((candidate.source, candidate.skills), []),
            (-candidate.score, candidate.seq, candidate.item_id),
        )
        heapq.heappush(
            self._age_heaps[candidate.source], (candidate.selected_at_ms, candidate.seq, candidate.item_id)
        )
        self._pushes_since_compact += 1
        if self._pushes_since_compact > len(self._entries) + 10_000:
            self.compact()  # amortised O(1): bounds lazily-deleted heap entries to about the live count
        removed = self.age_out(now_ms=now_ms)
        while self._counts[FRESH] > self.fresh_max:
            removed.append(self._pop_oldest(FRESH, "evicted"))
        while len(self._entries) > self.max_size:
            source = min(
                (s for s in SOURCES if self._counts[s]),
                key=lambda s: self._peek_age(s),  # oldest overall goes
            )
            removed.append(self._pop_oldest(source, "evicted"))
        return removed

    def remove(self, item_id: str) -> PooledCandidate | None:
        entry = self._entries.pop(item_id, None)
        if entry is not None:
            self._counts[entry.source] -= 1
        return entry

    def age_out(self, *, now_ms: int, month_start_ms: int | None = None) -> list[Removed]:
        """Drop candidates selected more than ``max_age_ms`` ago, and fresh-pool items of a past month."""
        removed: list[Removed] = []
        cutoff = now_ms - self.max_age_ms
        for source in SOURCES:
            if source == QA:
                continue  # the stable QA gold set does not go stale
            limit = (
                max(cutoff, month_start_ms) if (source == FRESH and month_start_ms is not None) else cutoff
            )
            while self._counts[source] and self._peek_age(source) < limit:
                removed.append(
                    self._pop_oldest(source, "fresh_pool_refresh" if limit != cutoff else "aged_out")
                )
        return removed

    def take(
        self,
        source: str,
        *,
        skills: frozenset[str],
        excluded: Callable[[str], bool],
    ) -> PooledCandidate | None:
        """Best-scoring candidate of ``source`` the annotator's skills cover and ``excluded`` does not veto.

        Uses one copy: the record leaves the pool when its last copy is taken (QA gold never leaves).
        """
        best: tuple[float, int, str] | None = None
        best_heap: list[tuple[float, int, str]] | None = None
        limit = self.scan_limit if source != QA else max(self.scan_limit, self._counts[QA])
        for (bucket_source, needed), heap in self._score_heaps.items():
            if bucket_source != source or not needed <= skills:
                continue
            top = self._valid_top(heap, excluded, limit)
            if top is not None and (best is None or top < best):
                best, best_heap = top, heap
        if best is None or best_heap is None:
            return None
        entry = self._entries[best[2]]
        if entry.copies_left != UNLIMITED:
            entry.copies_left -= 1
            if entry.copies_left <= 0:
                self.remove(entry.item_id)
        return entry

    def supply(self, source: str, *, skills: frozenset[str], excluded: Callable[[str], bool]) -> str:
        """What ``source`` holds for an annotator with ``skills`` who had the ``excluded`` items before.

        ``AVAILABLE`` exactly when :meth:`take` would find a candidate (same skill buckets, same scan
        limit); otherwise ``SEEN_ALL`` if candidates they could do were all given to them before,
        ``NEEDS_SKILLS`` if the source holds only work that needs skills they lack, ``NO_SUPPLY`` if it
        holds nothing. Used to explain a READY that got nothing, so it does not change the pool's contents.
        """
        if not self._counts[source]:
            return NO_SUPPLY
        limit = self.scan_limit if source != QA else max(self.scan_limit, self._counts[QA])
        seen_some = False
        for (bucket_source, needed), heap in self._score_heaps.items():
            if bucket_source != source or not needed <= skills:
                continue
            if self._valid_top(heap, excluded, limit) is not None:
                return AVAILABLE
            seen_some = seen_some or bool(heap)  # stale heads are dropped: what is left was excluded
        return SEEN_ALL if seen_some else NEEDS_SKILLS

    def _valid_top(
        self, heap: list[tuple[float, int, str]], excluded: Callable[[str], bool], limit: int
    ) -> tuple[float, int, str] | None:
        skipped: list[tuple[float, int, str]] = []
        found = None
        while heap and len(skipped) < limit:
            top = heap[0]
            entry = self._entries.get(top[2])
            if entry is None or entry.seq != top[1]:
                heapq.heappop(heap)  # stale: taken, aged out or re-pooled under a newer seq
                continue
            if excluded(top[2]):
                skipped.append(heapq.heappop(heap))
                continue
            found = top
            break
        for entry_key in skipped:
            heapq.heappush(heap, entry_key)
        return found

    def _peek_age(self, source: str) -> int:
        heap = self._age_heaps[source]
        while heap:
            selected, seq, item_id = heap[0]
            entry = self._entries.get(item_id)
            if entry is not None and entry.seq == seq:
                return selected
            heapq.heappop(heap)
        return 2**62

    def _pop_oldest(self, source: str, reason: str) -> Removed:
        self._peek_age(source)  # drops stale heads
        _, _, item_id = heapq.heappop(self._age_heaps[source])
        self.remove(item_id)
        return Removed(item_id=item_id, reason=reason)

    def compact(self) -> None:
        """Rebuild heaps without stale entries (memory stays proportional to live candidates)."""
        self._pushes_since_compact = 0
        self._score_heaps = {}
        self._age_heaps = {source: [] for source in SOURCES}
        for entry in self._entries.values():
            self._score_heaps.setdefault((entry.source, entry.skills), []).append(
                (-entry.score, entry.seq, entry.item_id)
            )
            self._age_heaps[entry.source].append((entry.selected_at_ms, entry.seq, entry.item_id))
        for score_heap in self._score_heaps.values():
            heapq.heapify(score_heap)
        for age_heap in self._age_heaps.values():
            heapq.heapify(age_heap)
