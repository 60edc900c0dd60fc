"""One annotation version -> one label draft, including everything a hostile or broken one can carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alstream.agents.label_studio.annotations import MAX_LEAD_TIME_S, draft_label
from alstream.agents.label_studio.exceptions import (
    MalformedAnnotation,
    NoChoice,
    UnknownAnnotator,
    WrongAnnotator,
)
from alstream.agents.label_studio.state import AnnotationVersion
from tests.support.records import assignment

SAVED = datetime(2026, 11, 20, 10, 0, 0, 250_000, tzinfo=UTC)
IMPORTED = SAVED - timedelta(hours=1)
WORK = assignment("a1", annotator_id="ann", classes=["cat", "dog"])


def annotation(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": 17,
        "result": [
            {"from_name": "label", "to_name": "item", "type": "choices", "value": {"choices": ["dog"]}}
        ],
        "was_cancelled": False,
        "lead_time": 6.5,
        "completed_by": 3,
        "created_at": "2026-11-20T10:00:00.250000Z",
        "updated_at": "2026-11-20T10:00:00.250000Z",
    }
    record.update(overrides)
    return record


def draft(record: dict[str, Any], *, author: str | None = "ann", previous: AnnotationVersion | None = None):  # type: ignore[no-untyped-def]
    return draft_label(
        record, assignment=WORK, author=author, imported_at=IMPORTED, previous=previous, server="s"
    )


def test_a_choice_becomes_a_labeled_answer_timed_by_lead_time() -> None:
    made = draft(annotation())
    assert (made.status, made.value, made.submitted_at) == ("LABELED", "dog", SAVED)
    assert made.started_at == SAVED - timedelta(seconds=6.5)
    assert made.version == AnnotationVersion(17, "2026-11-20T10:00:00.250000Z", 6.5, None) and not made.edit


def test_a_skip_is_skipped() -> None:
    made = draft(annotation(was_cancelled=True, result=[]))
    assert (made.status, made.value) == ("SKIPPED", None)


def test_an_edit_is_a_new_label_timed_by_the_added_work() -> None:
    first = draft(annotation())
    later = "2026-11-20T10:05:00.000000Z"
    edit = draft(annotation(updated_at=later, lead_time=9.5), previous=first.version)
    assert edit.edit and edit.label_id != first.label_id
    assert edit.submitted_at - edit.started_at == timedelta(seconds=3)
    assert draft(annotation()).label_id == first.label_id  # the same version read again: the same label


def test_someone_else_or_an_unknown_user_is_refused() -> None:
    with pytest.raises(WrongAnnotator, match=r"'mallory'.*belongs to 'ann'"):
        draft(annotation(), author="mallory")
    with pytest.raises(UnknownAnnotator):
        draft(annotation(), author=None)


@pytest.mark.parametrize(
    "result",
    [
        [],
        None,
        "dog",
        [{"from_name": "label", "value": {"choices": ["dog", "cat"]}}],
        [{"from_name": "label", "value": {"choices": ["wolf"]}}],
        [{"from_name": "label", "value": {"choices": [["dog"]]}}],
        [{"from_name": "other", "value": {"choices": ["dog"]}}],
        [{"from_name": "label", "value": "dog"}],
        ["junk", 3, None],
    ],
)
def test_anything_but_one_known_choice_is_refused(result: Any) -> None:
    with pytest.raises(NoChoice):
        draft(annotation(result=result))


@pytest.mark.parametrize(
    ("lead_time", "spent"),
    [
        (float("nan"), 0.0),
        (float("inf"), 0.0),
        (-5, 0.0),
        (True, 0.0),
        ("7", 0.0),
        (None, 0.0),
        (1e300, 3600.0),  # never before the task existed (imported an hour earlier)
        (MAX_LEAD_TIME_S * 10, 3600.0),
    ],
)
def test_impossible_lead_times_are_bounded(lead_time: Any, spent: float) -> None:
    made = draft(annotation(lead_time=lead_time))
    assert (made.submitted_at - made.started_at).total_seconds() == spent


@pytest.mark.parametrize(
    "change",
    [
        {"id": "17"},
        {"id": None},
        {"id": True},
        {"updated_at": "yesterday"},
        {"updated_at": None, "created_at": None},
    ],
)
def test_broken_ids_and_times_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(MalformedAnnotation):
        draft(annotation(**change))


def test_offsets_in_label_studio_times_are_honoured() -> None:
    made = draft(annotation(updated_at="2026-11-20T11:00:00.250000+01:00"))
    assert made.submitted_at == SAVED
