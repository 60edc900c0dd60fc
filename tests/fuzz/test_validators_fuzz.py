"""The ingest validator and the label validator, fed hostile input, refuse with a reason and never raise.

Every input row is accounted for exactly once (accepted or rejected), and the classic bad cases
(NaN / infinity, wrong embedding dimension, empty or huge ids, null fields) are always rejected.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alstream.contracts.exceptions import ContractViolation
from alstream.contracts.labels import LabelRules
from alstream.ingest import reasons as R
from alstream.ingest.validation import ItemValidator
from alstream.settings import load_settings
from alstream.streams.codecs import SingleObjectCodec
from tests.support import records as factories
from tests.support.avro_strategies import records

DIM = 8
NOW_MS = int(time.time() * 1000)
CLASSES = ["cat", "dog", "bird"]
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
SETTINGS = load_settings(
    kafka={"topic_prefix": "f."},
    task={"classes": CLASSES},
    ingest={"embedding_dim": DIM, "max_id_length": 64},
)
VALIDATOR = ItemValidator(settings=SETTINGS, default_source="fuzz")

ANYTHING = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10), st.binary(max_size=10)
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def valid_items(draw: st.DrawFn) -> dict[str, Any]:
    probs = draw(st.none() | st.lists(st.floats(0.05, 1), min_size=3, max_size=3))
    return {
        "item_id": draw(st.text(min_size=1, max_size=20).filter(str.strip)),
        "source": "fuzz",
        "embedding": draw(st.lists(st.floats(-1e3, 1e3), min_size=DIM, max_size=DIM)),
        "probabilities": None if probs is None else [p / sum(probs) for p in probs],
        "event_time": draw(st.integers(0, NOW_MS)),
    }


# Damage that must always be refused, with the reason it must be refused for.
ALWAYS_BAD: dict[str, tuple[Any, set[str]]] = {
    "nan_in_embedding": (lambda r: r["embedding"].__setitem__(0, math.nan), {R.NOT_FINITE}),
    "inf_in_embedding": (lambda r: r["embedding"].__setitem__(DIM - 1, math.inf), {R.NOT_FINITE}),
    "float32_overflow": (lambda r: r["embedding"].__setitem__(1, 1e300), {R.NOT_FINITE}),
    "short_embedding": (lambda r: r["embedding"].pop(), {R.EMBEDDING_DIM}),
    "long_embedding": (lambda r: r["embedding"].append(0.0), {R.EMBEDDING_DIM}),
    "no_embedding": (lambda r: r.__setitem__("embedding", None), {R.MISSING_FIELD}),
    "empty_id": (lambda r: r.__setitem__("item_id", ""), {R.ID_LENGTH, R.MISSING_FIELD}),
    "null_id": (lambda r: r.__setitem__("item_id", None), {R.MISSING_FIELD}),
    "huge_id": (lambda r: r.__setitem__("item_id", "x" * 100_000), {R.ID_LENGTH}),
    "nan_probability": (
        lambda r: r.__setitem__("probabilities", [math.nan, 0.5, 0.5]),
        {R.NOT_FINITE, R.PROBABILITIES_RANGE, R.PROBABILITIES_SUM},
    ),
    "probabilities_sum": (lambda r: r.__setitem__("probabilities", [0.9, 0.9, 0.9]), {R.PROBABILITIES_SUM}),
    "probabilities_length": (lambda r: r.__setitem__("probabilities", [0.5, 0.5]), {R.PROBABILITIES_LENGTH}),
    "unknown_field": (lambda r: r.__setitem__("embeding", [0.0]), {R.UNKNOWN_FIELD}),
    "string_embedding": (lambda r: r.__setitem__("embedding", "0,1,2"), {R.BAD_TYPE, R.EMBEDDING_DIM}),
    "metadata_not_object": (lambda r: r.__setitem__("metadata", [1, 2]), {R.BAD_TYPE}),
    "bad_unit": (lambda r: r.__setitem__("unit_of_work", "GALAXY"), {R.UNIT_OF_WORK}),
    "bad_time": (lambda r: r.__setitem__("event_time", "yesterday-ish"), {R.EVENT_TIME}),
    "time_before_1970": (lambda r: r.__setitem__("event_time", -1), {R.EVENT_TIME}),
    "time_far_future": (lambda r: r.__setitem__("event_time", "9999-01-01T00:00:00Z"), {R.EVENT_TIME}),
    "part_without_parent": (lambda r: r.__setitem__("unit_of_work", "OBJECT"), {R.UNIT_OF_WORK}),
    "empty_source": (lambda r: r.__setitem__("source", ""), {R.MISSING_FIELD}),
}


def check_accounting(batch: Any, n: int) -> dict[int, str]:
    rejected = {r.index: r.reason for r in batch.rejections}
    assert len(rejected) == len(batch.rejections), "a row was rejected twice"
    assert set(batch.positions).isdisjoint(rejected), "a row was both accepted and rejected"
    assert set(batch.positions) | set(rejected) == set(range(n)), "a row was lost"
    assert all(reason in R.ALL_REASONS for reason in rejected.values())
    assert all(r.message for r in batch.rejections)
    if len(batch):
        assert batch.embeddings.shape == (len(batch), DIM)
        assert np.isfinite(batch.embeddings).all()
    return rejected


@FUZZ
@given(rows=st.lists(st.tuples(valid_items(), st.sampled_from([None, *ALWAYS_BAD])), min_size=1, max_size=12))
def test_item_validator_rejects_every_damaged_row_with_its_reason(
    rows: list[tuple[dict[str, Any], str | None]], fuzz_counts: Counter
) -> None:
    batch_rows = []
    for record, damage in rows:
        if damage is not None:
            ALWAYS_BAD[damage][0](record)
        batch_rows.append(record)
    batch = VALIDATOR.prepare_records(batch_rows)
    rejected = check_accounting(batch, len(rows))
    for i, (_, damage) in enumerate(rows):
        if damage is None:
            assert i in batch.positions, f"a valid row was rejected: {rejected.get(i)}"
        else:
            assert rejected.get(i) in ALWAYS_BAD[damage][1], f"{damage}: got {rejected.get(i)!r}"
            fuzz_counts[f"ingest validator: {damage}"] += 1
    fuzz_counts["ingest validator: rows"] += len(rows)


@FUZZ
@given(
    rows=st.lists(
        st.one_of(
            ANYTHING,
            st.dictionaries(
                st.sampled_from(
                    sorted(
                        [
                            "item_id",
                            "source",
                            "embedding",
                            "probabilities",
                            "hardness",
                            "metadata",
                            "event_time",
                            "unit_of_work",
                            "parent_id",
                            "uri",
                        ]
                    )
                ),
                ANYTHING,
                max_size=10,
            ),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_item_validator_survives_arbitrary_objects(rows: list[Any], fuzz_counts: Counter) -> None:
    batch = VALIDATOR.prepare_records(rows)
    check_accounting(batch, len(rows))
    fuzz_counts["ingest validator: arbitrary objects"] += len(rows)


LABEL_VALIDATOR = LabelRules(task_classes=CLASSES, root_causes=["model_bias", "label_noise"])
MAX_ID = LABEL_VALIDATOR.max_id_length
SKEW = timedelta(milliseconds=LABEL_VALIDATOR.skew_ms)
LABEL_SCHEMA = SingleObjectCodec("labels").schema
ASSIGNMENT_SCHEMA = SingleObjectCodec("assignments").schema


@FUZZ
@given(data=st.data())
def test_label_validator_returns_a_verdict_for_anything_decodable(
    data: st.DataObject, fuzz_counts: Counter
) -> None:
    label = data.draw(records(LABEL_SCHEMA), label="label")
    assignment = data.draw(st.none() | records(ASSIGNMENT_SCHEMA), label="assignment")
    if assignment is not None and data.draw(st.booleans(), label="matching"):
        assignment = {
            **assignment,
            "assignment_id": label["assignment_id"],
            "annotator_id": label["annotator_id"],
            "item_id": label["item_id"],
        }
        classes = assignment.get("classes") or CLASSES
        start, end = sorted([label["started_at"], label["submitted_at"]])
        label = {
            **label,
            "value": data.draw(st.sampled_from([*classes, None, "not-a-class"]), label="value"),
            "root_cause": data.draw(st.sampled_from([None, "model_bias", "made-up"]), label="cause"),
            "started_at": start,
            "submitted_at": end,
        }
        if data.draw(st.booleans(), label="inside the lease"):
            margin = timedelta(seconds=data.draw(st.integers(0, 900), label="margin"))
            assignment = {**assignment, "assigned_at": start - margin, "lease_expires_at": end + margin}
    verdict = LABEL_VALIDATOR.verdict(label, assignment)
    assert verdict is None or isinstance(verdict, ContractViolation)
    if verdict is None:
        assert assignment is not None
        assert (
            label["annotator_id"] == assignment["annotator_id"] and label["item_id"] == assignment["item_id"]
        )
        assert all(
            0 < len(label[f]) <= MAX_ID for f in ("label_id", "assignment_id", "item_id", "annotator_id")
        )
        assert not label["annotator_id"].startswith("__")
        assert assignment["assigned_at"] - SKEW <= label["started_at"] <= label["submitted_at"]
        assert label["submitted_at"] <= assignment["lease_expires_at"] + SKEW
        assert label["root_cause"] in (None, "model_bias", "label_noise")
        if label["status"] == "LABELED":
            assert label["value"] in CLASSES
            assert label["value"] in (assignment.get("classes") or CLASSES)
        else:
            assert label["value"] is None
        fuzz_counts["label validator: accepted"] += 1
    else:
        assert str(verdict)
        fuzz_counts[f"label validator: {type(verdict).__name__}"] += 1


@pytest.mark.parametrize("bad", [math.nan, math.inf, "", None, "x" * 1_000_000, 12, ["cat"], {"v": "cat"}])
def test_label_validator_bad_values(bad: Any, fuzz_counts: Counter) -> None:
    assignment = factories.assignment("a", annotator_id="x", item_id="i", classes=CLASSES, lease_s=900)
    label = factories.label("l", of=assignment, value="cat")
    label["value"] = bad  # any type at all, so set after the factory
    assert isinstance(LABEL_VALIDATOR.verdict(label, assignment), ContractViolation)
    fuzz_counts["label validator: bad values"] += 1
