from __future__ import annotations

from datetime import timedelta

import pytest

from alstream.agents.labels.qa import QaTracker, load_gold
from alstream.contracts import exceptions as ex
from alstream.contracts.labels import LabelRules
from alstream.exceptions import ConfigError
from tests.support import records

T0 = records.T0  # when the label was started
ASSIGNMENT = records.assignment(
    "as1", classes=["cat", "dog"], assigned_at=T0 - timedelta(minutes=1), lease_s=960
)


def _label(**overrides: object) -> dict[str, object]:
    """A valid label for ASSIGNMENT, started at T0, with ``overrides`` set as given."""
    label = records.label("l1", of=ASSIGNMENT, submitted_at=T0 + timedelta(seconds=5), seconds=5)
    label.update(overrides)
    return label


VALIDATOR = LabelRules(task_classes=["cat", "dog", "bird"], root_causes=["model_bias"])


def test_valid_label_passes() -> None:
    assert VALIDATOR.verdict(_label(), ASSIGNMENT) is None
    assert VALIDATOR.verdict(_label(status="SKIPPED", value=None), ASSIGNMENT) is None
    assert VALIDATOR.verdict(_label(root_cause="model_bias"), ASSIGNMENT) is None


@pytest.mark.parametrize(
    ("overrides", "assignment", "error"),
    [
        ({}, None, ex.UnknownAssignment),
        ({"annotator_id": "eve"}, ASSIGNMENT, ex.WrongAnnotator),
        ({"item_id": "it2"}, ASSIGNMENT, ex.WrongItem),
        ({"value": "bird"}, ASSIGNMENT, ex.ValueNotInClasses),  # task class, but not this assignment's
        ({"value": None}, ASSIGNMENT, ex.ValueNotInClasses),
        ({"submitted_at": T0 - timedelta(seconds=1)}, ASSIGNMENT, ex.SubmittedBeforeStarted),
        ({"root_cause": "sunspots"}, ASSIGNMENT, ex.UnknownRootCause),
    ],
)
def test_each_rule_has_its_own_error(
    overrides: dict[str, object], assignment: dict | None, error: type
) -> None:
    verdict = VALIDATOR.verdict(_label(**overrides), assignment)
    assert isinstance(verdict, error)


def test_task_classes_apply_when_assignment_has_none() -> None:
    bare = {**ASSIGNMENT, "classes": []}
    assert VALIDATOR.verdict(_label(value="bird"), bare) is None
    assert isinstance(VALIDATOR.verdict(_label(value="fish"), bare), ex.ValueNotInClasses)


def test_qa_tracker_rolling_and_top_n(tmp_path) -> None:
    gold_file = tmp_path / "gold.csv"
    gold_file.write_text("item_id,label\ng1,cat\ng2,dog\n")
    gold = load_gold(gold_file)
    assert gold == {"g1": "cat", "g2": "dog"}
    qa = QaTracker(gold=gold, window=10, top_n=1, min_checks=2)
    assert qa.check(item_id="other", annotator_id="a", value="cat") is None
    for _ in range(3):
        qa.check(item_id="g1", annotator_id="good", value="cat")
        qa.check(item_id="g1", annotator_id="bad", value="dog")
    assert qa.error_rate() == pytest.approx(0.5)
    assert qa.worst_annotators() == [("bad", 1.0)]
    with pytest.raises(ConfigError, match="QA_GOLD_FILE"):
        load_gold(tmp_path / "missing.csv")
