"""Bounded candidate selection per partition per window, whatever the arrival rate.

Each window (``policy.window_seconds`` of processing time, per items-topic partition, so scorer
instances never need to talk to each other) keeps at most:

* ``candidates_per_window`` items with the highest scores, never from the random slice or QA gold;
  with the policy's diversity on, the top ``pool`` x that many are kept and, when the window closes,
  ``candidates_per_window`` of them spread over the embedding space are emitted
  (:mod:`alstream.agents.selection.diversity`: once per window over those rows, never per item);
* ``random_slice_candidates_per_window`` random-slice items (a deterministic uniform sample: the
  smallest slice positions), so the slice is the policy's share of the candidates;
* ``qa_gold_per_window`` QA gold items;
* while the drift check reports a shift, ``shift_review_per_window`` high-confidence items.

Memory is O(budget x pool) per partition. Replayed items (at-least-once) land on the same item_id key and
the same score, so a replay never duplicates a candidate within a window. Windows close when due,
also on idle polls, so candidates flow promptly at low rates.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alstream.agents.selection.diversity import pick_diverse
from alstream.agents.selection.policy import Policy

Row = dict[str, Any]
REASON_ORDER = ("QA_GOLD", "RANDOM_SLICE", "TOP_SCORE", "SHIFT_REVIEW")


@dataclass
class _Bucket:
    """Keeps the ``cap`` rows with the largest keys (ties by item_id), by item_id."""

    cap: int
    rows: dict[str, tuple[tuple[float, str], Row]] = field(default_factory=dict)

    def offer(self, key: float, item_id: str, build: Callable[[], Row]) -> None:
        if self.cap <= 0:
            return
        if item_id in self.rows:
            return
        rank = (key, item_id)
        if len(self.rows) >= self.cap:
            worst_id = min(self.rows, key=lambda i: self.rows[i][0])
            if rank <= self.rows[worst_id][0]:
                return
            del self.rows[worst_id]
        self.rows[item_id] = (rank, build())

    def floor(self) -> float:
        """Keys at or below this cannot enter a full bucket."""
        if len(self.rows) < self.cap:
            return -math.inf
        return min(r[0][0] for r in self.rows.values())

    def ordered(self) -> list[Row]:
        return [row for _, row in sorted(self.rows.values(), key=lambda r: r[0], reverse=True)]


@dataclass
class _Window:
    start: float
    top: _Bucket
    slice: _Bucket
    gold: _Bucket
    shift: _Bucket


@dataclass(frozen=True)
class Selected:
    """One candidate to emit."""

    reason: str
    window_start: float
    row: Row


class CandidateSelector:
    """Per-partition windows of bounded candidates."""

    def __init__(self, *, policy: Policy) -> None:
        self.policy = policy
        self.window_s = policy.window_seconds
        self._windows: dict[int, _Window] = {}
        self.top_n = policy.candidates_per_window
        self.diverse = policy.diversity.method != "none" and self.top_n > 1
        self.top_kept = math.ceil(policy.diversity.pool * self.top_n) if self.diverse else self.top_n

    def _new(self, now: float) -> _Window:
        p = self.policy
        start = math.floor(now / self.window_s) * self.window_s
        return _Window(
            start=start,
            top=_Bucket(self.top_kept),
            slice=_Bucket(p.random_slice_candidates_per_window),
            gold=_Bucket(p.qa_gold_per_window),
            shift=_Bucket(p.shift_review_per_window),
        )

    def add(
        self,
        partition: int,
        *,
        now: float,
        item_ids: list[str],
        scores: np.ndarray,
        in_slice: np.ndarray,
        is_gold: np.ndarray,
        positions: np.ndarray,
        shift_review: np.ndarray | None,
        build_row: Callable[[int], Row],
        rank: np.ndarray | None = None,
    ) -> list[Selected]:
        """Offer one partition's scored items; returns candidates of a window this call closed.

        ``rank`` orders items for the top-N when it must differ from ``scores`` (items scored by the
        random fallback rank below every item the policy's signal scored).
        """
        closed: list[Selected] = []
        window = self._windows.get(partition)
        if window is not None and now >= window.start + self.window_s:
            closed = self._emit(self._windows.pop(partition))
            window = None
        if window is None:
            window = self._windows[partition] = self._new(now)
        gold = is_gold
        slice_ = in_slice & ~gold
        top_mask = ~slice_ & ~gold
        self._offer_top(window.top, top_mask, scores if rank is None else rank, item_ids, build_row)
        # smaller hash position = earlier in a uniform random order: keep the smallest (largest -pos)
        self._offer_all(window.slice, slice_, -positions, item_ids, build_row)
        self._offer_all(window.gold, gold, -positions, item_ids, build_row)
        if shift_review is not None:
            self._offer_all(window.shift, shift_review & top_mask, -positions, item_ids, build_row)
        return closed

    @staticmethod
    def _offer_top(
        bucket: _Bucket, mask: np.ndarray, keys: np.ndarray, ids: list[str], build: Callable[[int], Row]
    ) -> None:
        idx = np.flatnonzero(mask & (keys > bucket.floor()) if bucket.cap > 0 else np.zeros(0, bool))
        if len(idx) > bucket.cap:
            part = np.argpartition(-keys[idx], bucket.cap - 1)[: bucket.cap]
            idx = idx[part]
        for i in idx.tolist():
            bucket.offer(float(keys[i]), ids[i], functools.partial(build, i))

    @classmethod
    def _offer_all(
        cls, bucket: _Bucket, mask: np.ndarray, keys: np.ndarray, ids: list[str], build: Callable[[int], Row]
    ) -> None:
        if bucket.cap > 0 and mask.any():
            cls._offer_top(bucket, mask, keys, ids, build)

    def due(self, now: float) -> list[Selected]:
        """Candidates of every window that has ended by ``now`` (call on idle polls too)."""
        out: list[Selected] = []
        for partition in [p for p, w in self._windows.items() if now >= w.start + self.window_s]:
            out.extend(self._emit(self._windows.pop(partition)))
        return out

    def flush(self, partitions: Iterable[int] | None = None) -> list[Selected]:
        """Emit open windows now (partitions revoked, or shutdown)."""
        chosen = list(self._windows) if partitions is None else [p for p in partitions if p in self._windows]
        out: list[Selected] = []
        for partition in chosen:
            out.extend(self._emit(self._windows.pop(partition)))
        return out

    def _top_rows(self, bucket: _Bucket) -> list[Row]:
        """The window's top-N: the best scores, or N of the kept top rows spread out (diversity)."""
        ranked = bucket.ordered()
        if not self.diverse or len(ranked) <= self.top_n:
            return ranked[: self.top_n]
        keys = np.array([bucket.rows[row["item_id"]][0][0] for row in ranked])
        embeddings = np.stack([np.frombuffer(row["embedding"], dtype="<f4") for row in ranked])
        picks = pick_diverse(
            keys,
            embeddings,
            self.top_n,
            ids=[row["item_id"] for row in ranked],
            method=self.policy.diversity.method,
        )
        return [ranked[i] for i in sorted(picks.tolist())]  # best score first, as without diversity

    def _emit(self, window: _Window) -> list[Selected]:
        out: list[Selected] = []
        seen: set[str] = set()
        for reason, bucket in zip(
            REASON_ORDER, (window.gold, window.slice, window.top, window.shift), strict=True
        ):
            rows = self._top_rows(bucket) if bucket is window.top else bucket.ordered()
            for row in rows:
                if row["item_id"] in seen:
                    continue
                seen.add(row["item_id"])
                out.append(Selected(reason=reason, window_start=window.start, row=row))
        return out


__all__ = ["CandidateSelector", "Selected"]
