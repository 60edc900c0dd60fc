"""Rank fusion: a weighted combination of signals, computed on ranks so their scales never matter.

Entropy lives in [0, 1], KL disagreement in [0, inf), failure distance in (0, 1]: adding them would
let whichever has the widest range decide. Each member's score is first turned into a rank, the
share of a fixed *reference sample* of items it outscores (mid-rank for ties), and the fused score
is the weighted mean of those ranks, in [0, 1].

The reference sample is unlabeled embeddings the trainer stores in the model bundle (a slice of
the fixed validation set), scored by the same model: the fused score of an item is then a function
of the item and the model version alone, like every other signal's, so a replayed batch scores the
same. Without a reference (a bundle from before it carried one, or items scored from the
production model's probabilities) the batch being scored is its own reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from alstream.agents.selection.exceptions import SignalInputError
from alstream.agents.selection.signals import Signal

#: which input the fused signal needs, given its members'; the first present wins
_NEEDS_ORDER = ("committee", "probabilities", "embeddings", "ids")


def mid_ranks(reference: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Share of ``reference`` (sorted) below each value, counting ties as half: in [0, 1]."""
    if len(reference) == 0:
        return np.full(len(values), 0.5)
    below = np.searchsorted(reference, values, side="left")
    not_above = np.searchsorted(reference, values, side="right")
    return (below + not_above) / (2.0 * len(reference))


class RankFusion(Signal):
    """The weighted mean of member signals' ranks against a reference sample."""

    name = "rank_fusion"

    def __init__(self, *, members: Sequence[tuple[Signal, float]]) -> None:
        if len(members) < 2:
            raise SignalInputError("rank fusion needs two or more signals")
        for signal, weight in members:
            if signal.needs == "hardness":
                raise SignalInputError(
                    "signal 'hardness' cannot be fused: it scores segmentation units with their own summaries"
                )
            if not weight > 0:
                raise SignalInputError(f"signal {signal.name!r}: weight must be > 0, got {weight}")
        self.members = [(signal, float(weight)) for signal, weight in members]
        total = sum(weight for _, weight in self.members)
        self.shares = [weight / total for _, weight in self.members]
        needs = {signal.needs for signal, _ in self.members}
        self.needs = next(n for n in _NEEDS_ORDER if n in needs)  # type: ignore[misc]
        self.references: list[np.ndarray] | None = None
        parts = [
            f"{signal.name} ({share:.0%})"
            for (signal, _), share in zip(self.members, self.shares, strict=True)
        ]
        self.explanation = (  # type: ignore[misc]
            f"Ranks items by a weighted blend of {', '.join(parts[:-1])} and {parts[-1]}, after turning "
            "each signal into a rank (the share of a fixed reference sample of items it beats) so that no "
            "signal wins just by having bigger numbers. An item comes first when it ranks high on the "
            "signals that weigh most."
        )

    @property
    def params(self) -> dict[str, Any]:
        return {signal.name: share for (signal, _), share in zip(self.members, self.shares, strict=True)}

    @property
    def label(self) -> str:
        """The name stamped on scores: the members, heaviest first."""
        order = sorted(zip(self.shares, (s.name for s, _ in self.members), strict=True), reverse=True)
        return "fusion:" + "+".join(name for _, name in order)

    def member_scores(self, **inputs: Any) -> list[np.ndarray]:
        return [np.asarray(signal.score(**inputs), dtype=np.float64) for signal, _ in self.members]

    def fit_reference(self, **inputs: Any) -> None:
        """Score the reference sample with every member (same keyword inputs as :meth:`score`)."""
        self.references = [np.sort(scores) for scores in self.member_scores(**inputs)]

    def clear_reference(self) -> None:
        self.references = None

    def score(self, *, probabilities, committee, embeddings, item_ids=None, hardness=None):  # type: ignore[no-untyped-def]
        scores = self.member_scores(
            probabilities=probabilities, committee=committee, embeddings=embeddings, item_ids=item_ids
        )
        references = self.references or [np.sort(s) for s in scores]
        fused = np.zeros(len(scores[0]), dtype=np.float64)
        for member, reference, share in zip(scores, references, self.shares, strict=True):
            fused += share * mid_ranks(reference, member)
        return fused
