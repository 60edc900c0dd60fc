"""The router's quota rules inside the simulator: one simulated annotator's mix of work kinds.

With ``alstream simulate --quotas FILE`` every policy batch is mixed by the router's own
``preference`` order (:mod:`alstream.agents.router.mix`), so the price of the guide's burnout limits
(hard items capped per day, a minimum share of normal items, QA gold that teaches nothing new) shows
up in the learning curve before rollout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class MixTally:
    """One simulated annotator under the router's own quota rules (:mod:`alstream.agents.router.mix`).

    Each label is one assignment; a simulated day is ``day`` labels. For every slot the router's
    ``preference`` order decides the source: HARD takes the next top-ranked item (when the daily cap
    and the minimum normal share allow), RANDOM a random slice item, NORMAL / FRESH a random unranked
    pick from outside the slice, QA a stable-gold answer that spends budget but teaches nothing new.
    """

    quotas: Any
    day: int
    history: list[str] = field(default_factory=list)

    def batch(
        self, ranked: np.ndarray, in_slice: np.ndarray, count: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, int]:
        from alstream.agents.router.mix import MixCounts, preference
        from alstream.agents.router.pool import FRESH, HARD, NORMAL, QA
        from alstream.agents.router.pool import RANDOM as SLICE

        top = list(ranked.tolist())
        others = list(rng.permutation(ranked).tolist())
        slice_left = list(rng.permutation(in_slice).tolist())
        taken: set[int] = set()
        picked: list[int] = []
        qa = 0
        for _ in range(count):
            window = self.history[-self.day :]  # the rolling day, at one label per slot
            counts = MixCounts(
                total=len(window), hard=window.count(HARD), random=window.count(SLICE), qa=window.count(QA)
            )
            for source in preference(counts, self.quotas):
                item = None
                if source == QA:
                    qa += 1
                    break
                if source == HARD:
                    item = _next_free(top, taken)
                elif source == SLICE:
                    item = _next_free(slice_left, taken)
                elif source in (NORMAL, FRESH):
                    item = _next_free(others, taken)
                if item is not None:
                    taken.add(item)
                    picked.append(item)
                    break
            else:
                source = "NONE"
            self.history.append(source)
        return np.asarray(picked, dtype=int), qa


def _next_free(queue: list[int], taken: set[int]) -> int | None:
    while queue:
        item = queue.pop(0)
        if item not in taken:
            return item
    return None
