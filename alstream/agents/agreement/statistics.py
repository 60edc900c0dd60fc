"""Inter-annotator agreement statistics, computed with well-kept libraries (pure, importable by releases).

* percent agreement: mean share of agreeing annotator pairs per item (simple, what a lead reads);
* Cohen's kappa (scikit-learn) for each annotator pair with enough shared items;
* Fleiss' kappa (statsmodels) over items rated by the most common number of raters (it needs a fixed k);
* Krippendorff's alpha, nominal (``krippendorff``), which handles any number of raters and missing data;
* per class: specific agreement (share of pair-mentions of a class that are agreeing pairs).

An item is a mapping annotator_id -> chosen value. Items with fewer than two values carry no agreement
information and are ignored. Undefined statistics (one class only, too few items) are ``None``, never NaN.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

import krippendorff
import numpy as np
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as _statsmodels_fleiss_kappa

Item = Mapping[str, str]


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _rated(items: Sequence[Item]) -> list[Item]:
    return [item for item in items if len(item) >= 2]


def pair_disagreement(values: Sequence[str]) -> float:
    """Share of annotator pairs on one item that chose different values, in [0, 1]."""
    n = len(values)
    if n < 2:
        return 0.0
    counts = Counter(values)
    agreeing = sum(c * (c - 1) for c in counts.values())
    return 1.0 - agreeing / (n * (n - 1))


def disagrees(values: Sequence[str]) -> bool:
    """True when the annotators of one item did not all choose the same value."""
    return len(set(values)) > 1


def percent_agreement(items: Sequence[Item]) -> float | None:
    """Mean pairwise agreement over items (1.0: every pair agreed on every item)."""
    rated = _rated(items)
    if not rated:
        return None
    return float(np.mean([1.0 - pair_disagreement(list(item.values())) for item in rated]))


def cohen_kappa_pairs(items: Sequence[Item], *, min_shared: int = 5) -> dict[tuple[str, str], float]:
    """Cohen's kappa of every annotator pair that shares at least ``min_shared`` items."""
    shared: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    for item in _rated(items):
        for a, b in combinations(sorted(item), 2):
            left, right = shared.setdefault((a, b), ([], []))
            left.append(item[a])
            right.append(item[b])
    kappas: dict[tuple[str, str], float] = {}
    for pair, (left, right) in shared.items():
        if len(left) < min_shared:
            continue
        if len(set(left) | set(right)) < 2:  # one class only: kappa undefined, agreement trivially perfect
            continue
        with np.errstate(all="ignore"):
            kappa = _finite(cohen_kappa_score(left, right))
        if kappa is not None:
            kappas[pair] = kappa
    return kappas


def _count_table(items: Sequence[Item], classes: Sequence[str]) -> np.ndarray:
    index = {value: i for i, value in enumerate(classes)}
    table = np.zeros((len(items), len(classes)), dtype=float)
    for row, item in enumerate(items):
        for value in item.values():
            if value in index:
                table[row, index[value]] += 1
    return table


def fleiss_kappa(items: Sequence[Item], classes: Sequence[str]) -> float | None:
    """Fleiss' kappa over the items rated by the most common number of raters (k must be fixed)."""
    rated = _rated(items)
    if not rated:
        return None
    k = Counter(len(item) for item in rated).most_common(1)[0][0]
    same_k = [item for item in rated if len(item) == k]
    if len(same_k) < 2:
        return None
    table = _count_table(same_k, classes)
    if (table.sum(axis=0) > 0).sum() < 2:
        return None
    with np.errstate(all="ignore"):
        return _finite(_statsmodels_fleiss_kappa(table, method="fleiss"))


def krippendorff_alpha(items: Sequence[Item], classes: Sequence[str]) -> float | None:
    """Nominal Krippendorff's alpha; items may have different numbers of raters (missing data)."""
    rated = _rated(items)
    if len(rated) < 2:
        return None
    table = _count_table(rated, classes)
    if (table.sum(axis=0) > 0).sum() < 2:
        return None
    with np.errstate(all="ignore"):
        return _finite(
            krippendorff.alpha(
                value_counts=table, value_domain=list(range(len(classes))), level_of_measurement="nominal"
            )
        )


def class_specific_agreement(items: Sequence[Item], classes: Sequence[str]) -> dict[str, float | None]:
    """Per class c: agreeing pairs on c / all pair-mentions of c (pairs where at least one chose c, counted
    once per member). 1.0 means whenever anyone chose c, the others did too."""
    agree = dict.fromkeys(classes, 0.0)
    mentions = dict.fromkeys(classes, 0.0)
    for item in _rated(items):
        for a, b in combinations(list(item.values()), 2):
            for value in (a, b):
                if value in mentions:
                    mentions[value] += 1
            if a == b and a in agree:
                agree[a] += 2
    return {c: (agree[c] / mentions[c] if mentions[c] else None) for c in classes}


def annotator_disagreement(items: Sequence[Item], *, min_items: int = 5) -> dict[str, float]:
    """Per annotator: share of their answers that differ from the plurality of the *other* annotators
    on the same item (ties count as agreement). Points a calibration at who drifted."""
    differ: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for item in _rated(items):
        for annotator, value in item.items():
            others = Counter(v for a, v in item.items() if a != annotator)
            top = max(others.values())
            total[annotator] += 1
            differ[annotator] += others.get(value, 0) < top
    return {a: differ[a] / total[a] for a in total if total[a] >= min_items}


@dataclass(frozen=True)
class AgreementSummary:
    """All statistics of one window of overlapped items."""

    items: int
    disagreement_rate: float | None
    percent_agreement: float | None
    fleiss_kappa: float | None
    krippendorff_alpha: float | None
    cohen_kappa: dict[tuple[str, str], float] = field(default_factory=dict)
    per_class: dict[str, float | None] = field(default_factory=dict)

    def mean_cohen_kappa(self) -> float | None:
        return float(np.mean(list(self.cohen_kappa.values()))) if self.cohen_kappa else None


def summarize(items: Sequence[Item], classes: Sequence[str], *, min_shared: int = 5) -> AgreementSummary:
    rated = _rated(items)
    rate = sum(disagrees(list(item.values())) for item in rated) / len(rated) if rated else None
    return AgreementSummary(
        items=len(rated),
        disagreement_rate=rate,
        percent_agreement=percent_agreement(rated),
        fleiss_kappa=fleiss_kappa(rated, classes),
        krippendorff_alpha=krippendorff_alpha(rated, classes),
        cohen_kappa=cohen_kappa_pairs(rated, min_shared=min_shared),
        per_class=class_specific_agreement(rated, classes),
    )
