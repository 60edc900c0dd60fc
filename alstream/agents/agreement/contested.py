"""Choosing the 20-50 tough examples of a calibration session.

Most contested first (share of disagreeing annotator pairs), but spread across classes: a session of
forty examples of one class calibrates one boundary and leaves the others drifting. Classes take turns
(round-robin over the class of each item: the model's predicted class if known, else the plurality
answer), each turn taking that class's most contested remaining item.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from alstream.agents.agreement.statistics import pair_disagreement


@dataclass(frozen=True)
class CompletedItem:
    """An overlapped item whose overlap group closed: who answered what."""

    item_id: str
    ratings: dict[str, str]  # annotator_id -> value
    predicted_class: str | None = None
    sequence: int = 0  # completion order, for recency
    root_causes: tuple[str, ...] = field(default_factory=tuple)
    completed_at: datetime | None = None  # latest submitted_at of its labels

    @property
    def disagreement(self) -> float:
        return pair_disagreement(list(self.ratings.values()))

    @property
    def class_key(self) -> str:
        if self.predicted_class is not None:
            return self.predicted_class
        return Counter(self.ratings.values()).most_common(1)[0][0] if self.ratings else ""


def select_contested(pool: Sequence[CompletedItem], *, min_items: int, max_items: int) -> list[CompletedItem]:
    """Up to ``max_items`` contested items spread across classes; padded with the most recent agreed items
    when fewer than ``min_items`` are contested (a session needs enough examples to align on)."""
    contested = [item for item in pool if item.disagreement > 0]
    buckets: dict[str, list[CompletedItem]] = {}
    for item in sorted(contested, key=lambda it: (-it.disagreement, -it.sequence, it.item_id)):
        buckets.setdefault(item.class_key, []).append(item)
    order = sorted(buckets, key=lambda key: (-buckets[key][0].disagreement, key))
    chosen: list[CompletedItem] = []
    while len(chosen) < max_items and any(buckets[key] for key in order):
        for key in order:
            if buckets[key] and len(chosen) < max_items:
                chosen.append(buckets[key].pop(0))
    if len(chosen) < min_items:
        taken = {item.item_id for item in chosen}
        for item in sorted(pool, key=lambda it: -it.sequence):
            if len(chosen) >= min_items:
                break
            if item.item_id not in taken:
                chosen.append(item)
                taken.add(item.item_id)
    return chosen
