"""The consolidated answer of an item and whether it is a model failure.

Consolidation is a strict plurality of LABELED answers (a tie is no answer: a contested item is a
calibration example, not evidence against the model). A model failure is a consolidated answer that
differs from the model's top prediction carried by the candidate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

UNTAGGED = "untagged"


def consolidate(values: Sequence[str]) -> str | None:
    """The strict plurality value, or None on a tie or no values."""
    ranked = Counter(values).most_common(2)
    if not ranked:
        return None
    if len(ranked) == 2 and ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0][0]


def root_cause_of(tags: Sequence[str | None]) -> str:
    """The most often tagged root cause (ties: alphabetical), or ``untagged``."""
    counts = Counter(tag for tag in tags if tag)
    if not counts:
        return UNTAGGED
    return sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))[0][0]


def is_model_failure(consolidated: str | None, predicted_class: str | None) -> bool:
    return consolidated is not None and predicted_class is not None and consolidated != predicted_class
