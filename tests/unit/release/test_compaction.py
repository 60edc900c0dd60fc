"""Compaction rules: only valid, de-duplicated labels vote; ties and weak majorities are flagged."""

from __future__ import annotations

from datetime import timedelta

from alstream.agents.release.compaction import compact
from alstream.agents.release.quality import krippendorff_alpha, percent_agreement, qa_error_rate
from tests.support import records


def _by_item():
    labels, assignments, _ = records.release_scenario()
    result = compact(labels, assignments, classes=records.CLASSES, min_agreement=0.67)
    return result, {item.item_id: item for item in result.items}


def test_invalid_and_duplicate_labels_are_excluded_and_counted() -> None:
    result, _ = _by_item()
    assert result.excluded == {  # the label contract's reasons, as the labels agent dead-letters them
        "LateLabel": 1,
        "UnknownAssignment": 1,
        "UnknownRootCause": 1,
        "ValueNotInClasses": 1,
        "WrongAnnotator": 1,
        "duplicate": 1,
        "status_skipped": 1,
    }
    assert len(result.labels) == 10
    assert all(label.value in records.CLASSES for label in result.labels)


def test_majority_vote_and_adjudication_flags() -> None:
    _, items = _by_item()
    assert items["i3"].label == "fox" and not items["i3"].needs_adjudication
    assert items["i4"].label is None and items["i4"].adjudication_reason == "tie"
    assert items["i5"].label == "cat" and items["i5"].adjudication_reason == "low_agreement"
    assert items["i5"].votes == {"cat": 2, "dog": 1}


def test_primary_kind_prefers_the_original_assignment_over_overlap_copies() -> None:
    _, items = _by_item()
    assert items["i3"].kind == "NORMAL"
    assert items["i2"].kind == "RANDOM"


def test_an_annotator_answering_twice_counts_once_with_the_latest_answer() -> None:
    labels, assignments, _ = records.release_scenario()
    first = records.assignment("a9", item_id="i9", annotator_id="ann1", kind="HARD")
    labels += [
        records.label("x1", of=first, value="cat", submitted_at=records.T0 + timedelta(minutes=1)),
        records.label("x2", of=first, value="dog", submitted_at=records.T0 + timedelta(minutes=2)),
    ]
    result = compact(labels, [*assignments, first], classes=records.CLASSES)
    item = next(i for i in result.items if i.item_id == "i9")
    assert item.votes == {"dog": 1}
    assert result.excluded["superseded"] == 1


def test_labels_outside_the_task_classes_are_excluded() -> None:
    labels, assignments, _ = records.release_scenario()
    result = compact(labels, assignments, classes=["cat", "dog"])
    assert "fox" not in {label.value for label in result.labels}
    # fox labels, and the zebra one; the label's own rules come before its assignment's
    assert result.excluded["ValueNotInClasses"] == 5


def test_agreement_and_qa_numbers() -> None:
    result, _ = _by_item()
    agreement, overlapped = percent_agreement(result.labels)
    assert overlapped == 3
    assert abs(agreement - (1 + 0 + 1 / 3) / 3) < 1e-12
    alpha = krippendorff_alpha(result.labels)
    assert alpha is not None and -1.0 <= alpha < 1.0
    assert qa_error_rate(result.labels, {"i6": "cat"}) == (1.0, 1)
    assert qa_error_rate(result.labels, {}) == (None, 0)
