"""Quality numbers a release records: agreement on overlapped items and the stable-QA error rate.

Percent agreement is the share of agreeing annotator pairs per overlapped item, averaged over items
(what the manifest's ``agreement`` field means); Krippendorff's alpha (nominal, from the
``krippendorff`` package) is recorded beside it because it corrects for chance agreement.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np

from alstream.agents.release.compaction import ValidLabel


def percent_agreement(labels: Sequence[ValidLabel]) -> tuple[float | None, int]:
    """(mean pairwise agreement over items with 2+ annotators, number of such items)."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for label in labels:
        grouped[label.item_id].append(label.value)
    shares = []
    for values in grouped.values():
        if len(values) < 2:
            continue
        pairs = list(combinations(values, 2))
        shares.append(sum(a == b for a, b in pairs) / len(pairs))
    return (float(np.mean(shares)) if shares else None), len(shares)


def krippendorff_alpha(labels: Sequence[ValidLabel]) -> float | None:
    """Nominal alpha over overlapped items; None when undefined (too few items or one value only)."""
    grouped: dict[str, dict[str, str]] = defaultdict(dict)
    for label in labels:
        grouped[label.item_id][label.annotator_id] = label.value
    overlapped = {item: answers for item, answers in sorted(grouped.items()) if len(answers) >= 2}
    values = sorted({v for answers in overlapped.values() for v in answers.values()})
    if len(overlapped) < 2 or len(values) < 2:
        return None
    import krippendorff

    annotators = sorted({a for answers in overlapped.values() for a in answers})
    code = {value: index for index, value in enumerate(values)}
    matrix = np.full((len(annotators), len(overlapped)), np.nan)
    for column, answers in enumerate(overlapped.values()):
        for annotator, value in answers.items():
            matrix[annotators.index(annotator), column] = code[value]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alpha = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    return None if not np.isfinite(alpha) else round(float(alpha), 12)


def qa_error_rate(labels: Sequence[ValidLabel], gold: Mapping[str, str]) -> tuple[float | None, int]:
    """(share of wrong answers on stable QA gold items, number of QA answers)."""
    checked = [label for label in labels if label.item_id in gold]
    if not checked:
        return None, 0
    wrong = sum(label.value != gold[label.item_id] for label in checked)
    return wrong / len(checked), len(checked)


def read_gold(path: str | None) -> dict[str, str]:
    """The stable QA gold CSV (item_id,label); empty when not configured."""
    if not path:
        return {}
    import csv

    with open(path, newline="") as handle:
        return {row["item_id"]: row["label"] for row in csv.DictReader(handle)}
