"""Quality numbers a release records: agreement on overlapped items and the stable-QA error rate.

Percent agreement is the share of agreeing annotator pairs per overlapped item, averaged over items
(what the manifest's ``agreement`` field means); Krippendorff's alpha (nominal) is recorded beside it
because it corrects for chance agreement. Both come from the agreement agent's
:mod:`alstream.agents.agreement.statistics`, so a release and the agreement dashboards agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from alstream.agents.agreement import statistics
from alstream.agents.release.compaction import ValidLabel


def _items(labels: Sequence[ValidLabel]) -> list[dict[str, str]]:
    """One mapping annotator -> value per item, in item order (the agreement agent's ``Item``)."""
    grouped: dict[str, dict[str, str]] = defaultdict(dict)
    for label in labels:
        grouped[label.item_id][label.annotator_id] = label.value
    return [grouped[item] for item in sorted(grouped)]


def overlap_agreement(
    items: Sequence[Mapping[str, str]], values: Iterable[str]
) -> tuple[float | None, int, float | None]:
    """(percent agreement, overlapped items, nominal Krippendorff's alpha) of items given as
    annotator -> value maps in item order; items with one annotator do not count. ``values`` is every
    value answered (alpha's domain). A build passes only the overlapped items, streamed."""
    rated = [dict(item) for item in items if len(item) >= 2]
    return (
        statistics.percent_agreement(rated),
        len(rated),
        statistics.krippendorff_alpha(rated, sorted(set(values))),
    )


def percent_agreement(labels: Sequence[ValidLabel]) -> tuple[float | None, int]:
    """(mean pairwise agreement over items with 2+ annotators, number of such items)."""
    agreement, overlapped, _ = overlap_agreement(_items(labels), (label.value for label in labels))
    return agreement, overlapped


def krippendorff_alpha(labels: Sequence[ValidLabel]) -> float | None:
    """Nominal alpha over overlapped items; None when undefined (too few items or one value only)."""
    return overlap_agreement(_items(labels), (label.value for label in labels))[2]


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
