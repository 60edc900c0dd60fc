"""Candidate rules: what the scorer never emits and the router refuses (dead letter).

In order: ``InvalidId`` (``item_id``), ``NotFinite`` (``score``, or ``confidence`` when set, NaN or
infinite), ``OutOfRange`` (``confidence`` outside [0, 1]), ``WrongEmbeddingSize`` (the embedding does
not hold ``ingest.embedding_dim`` packed float32 values), ``NotFinite`` (in the embedding),
``ImpossibleTime`` (``selected_at`` or ``window_start`` before 1970 or beyond the clock-skew allowance
in the future).

The score rule has a vectorised form, :func:`finite_scores`, which the scorer applies to every batch
it scores (an item scored NaN is dead-lettered as ``score_not_finite``, never emitted), and the
per-record form :func:`score_problem` the router applies; tests check both agree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from alstream.contracts.exceptions import (
    ContractViolation,
    ImpossibleTime,
    InvalidId,
    NotFinite,
    OutOfRange,
    WrongEmbeddingSize,
)
from alstream.contracts.ids import DEFAULT_MAX_ID_LENGTH, id_problem
from alstream.contracts.times import SECOND_MS, impossible, to_ms

if TYPE_CHECKING:
    from alstream.settings import AlstreamSettings

REASONS = tuple(v.__name__ for v in (InvalidId, NotFinite, OutOfRange, WrongEmbeddingSize, ImpossibleTime))


def finite_scores(scores: NDArray[Any]) -> NDArray[Any]:
    """Vectorised :func:`score_problem`: the mask of scores a candidate may carry."""
    finite: NDArray[Any] = np.isfinite(scores)
    return finite


def score_problem(score: Any) -> NotFinite | None:
    """Per record: a score must be a finite number (NaN breaks every ordering the router keeps)."""
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        return NotFinite(f"score {score!r} is not a finite number")
    return None


class CandidateRules:
    def __init__(
        self, *, embedding_dim: int, max_id_length: int = DEFAULT_MAX_ID_LENGTH, clock_skew_s: float = 300.0
    ) -> None:
        self.embedding_dim = embedding_dim
        self.max_id_length = max_id_length
        self.skew_ms = int(clock_skew_s * SECOND_MS)

    @classmethod
    def from_settings(cls, settings: AlstreamSettings) -> CandidateRules:
        return cls(
            embedding_dim=settings.ingest.embedding_dim,
            max_id_length=settings.ingest.max_id_length,
            clock_skew_s=settings.contracts.clock_skew_s,
        )

    def verdict(self, candidate: Mapping[str, Any], *, now_ms: int) -> ContractViolation | None:
        """The first rule ``candidate`` breaks when read at ``now_ms``, or None."""
        problem: ContractViolation | None = id_problem(
            candidate["item_id"], field="item_id", max_length=self.max_id_length
        )
        if problem is not None:
            return problem
        problem = score_problem(candidate["score"])
        if problem is not None:
            return problem
        confidence = candidate.get("confidence")
        if confidence is not None:
            if not math.isfinite(confidence):
                return NotFinite(f"confidence {confidence!r} is not a finite number")
            if not 0 <= confidence <= 1:
                return OutOfRange(f"confidence {confidence!r} is not in [0, 1]")
        embedding = candidate["embedding"]
        if len(embedding) != 4 * self.embedding_dim:
            return WrongEmbeddingSize(
                f"embedding has {len(embedding)} bytes, expected {4 * self.embedding_dim} "
                f"({self.embedding_dim} packed float32 values, ingest.embedding_dim)"
            )
        if not np.isfinite(np.frombuffer(embedding, dtype="<f4")).all():
            return NotFinite("embedding holds NaN or infinity")
        for field in ("selected_at", "window_start"):
            problem = impossible(field, to_ms(candidate[field]), now_ms=now_ms, skew_ms=self.skew_ms)
            if problem is not None:
                return problem
        return None
