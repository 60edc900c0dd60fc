"""The scorer's and the labels agent's batch processors, fed hostile batches through in-memory messages:
nothing escapes ``process`` (no crash), every good record is handled and every bad one reaches the
dead-letter topic with its reason."""

from __future__ import annotations

import math
from collections import Counter
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alstream.agents.labels.assignments import AssignmentIndex
from alstream.agents.labels.processor import LabelsProcessor
from alstream.agents.labels.qa import QaTracker
from alstream.agents.scorer.models import ActiveModel
from alstream.agents.scorer.processor import ScorerProcessor
from alstream.agents.selection.policy import Policy
from alstream.contracts.labels import LabelRules
from alstream.settings import load_settings
from alstream.streams.batch_loop import Outputs
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.dead_letters import error_headers
from alstream.streams.testing import InMemoryMessage, InMemoryProducer, in_memory_outputs
from tests.support import records
from tests.support.scorer import committee

DIM = 4
CLASSES = ["a", "b", "c"]
FUZZ = settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
ITEMS = SingleObjectCodec("items")
LABELS = SingleObjectCodec("labels")
ASSIGNMENTS = SingleObjectCodec("assignments")
DEAD = SingleObjectCodec("dead-letters")


def outputs(agent: str) -> tuple[Outputs, InMemoryProducer]:
    return in_memory_outputs(agent=agent, dead_letter_topic="f.dead-letters")


def dead_letters(producer: InMemoryProducer) -> list[tuple[dict[str, Any], dict[str, str]]]:
    return [(DEAD.decode(m.value()), error_headers(m.headers())) for m in producer.topics["f.dead-letters"]]


# ------------------------------------------------------------------------------------------ scorer


def item_bytes(
    item_id: str, embedding: bytes, probabilities: bytes | None = None, unit: str = "ITEM"
) -> bytes:
    return ITEMS.encode(
        {
            "item_id": item_id,
            "source": "fuzz",
            "unit_of_work": unit,
            "embedding": embedding,
            "probabilities": probabilities,
            "hardness": None,
            "event_time": 1_764_000_000_000,
        }
    )


def f4(values: list[float]) -> bytes:
    return np.asarray(values, dtype="<f4").tobytes()


GOOD_EMBEDDING = st.lists(st.floats(-100, 100, width=32), min_size=DIM, max_size=DIM).map(f4)
GOOD_PROBS = st.none() | st.lists(st.floats(0.05, 1), min_size=3, max_size=3).map(
    lambda p: f4([x / sum(p) for x in p])
)


@st.composite
def scorer_inputs(draw: st.DrawFn, item_id: str) -> tuple[bytes | None, str]:
    """(value bytes, kind): kind 'good' or the damage done."""
    kind = draw(
        st.sampled_from(
            [
                "good",
                "good",
                "good",
                "random",
                "truncated",
                "wrong_magic",
                "unknown_fingerprint",
                "tombstone",
                "short_embedding",
                "long_embedding",
                "probs_length",
                "nan_probs",
                "probs_sum",
                "other_unit",
                "label_record",
                "empty",
            ]
        )
    )
    good = item_bytes(item_id, draw(GOOD_EMBEDDING), draw(GOOD_PROBS))
    if kind == "good":
        return good, kind
    if kind == "random":
        return draw(st.binary(max_size=200)), kind
    if kind == "truncated":
        return good[: draw(st.integers(0, len(good) - 1))], kind
    if kind == "wrong_magic":
        return b"\x00\x01" + good[2:], kind
    if kind == "unknown_fingerprint":
        return good[:2] + b"\xff" * 8 + good[10:], kind
    if kind == "tombstone":
        return None, kind
    if kind == "empty":
        return b"", kind
    if kind == "short_embedding":
        return item_bytes(item_id, f4([0.1] * (DIM - 1))), kind
    if kind == "long_embedding":
        return item_bytes(item_id, f4([0.1] * (DIM + 1))), kind
    if kind == "nan_embedding":
        return item_bytes(item_id, f4([math.nan] + [0.1] * (DIM - 1))), kind
    if kind == "inf_embedding":
        return item_bytes(item_id, f4([0.1] * (DIM - 1) + [math.inf])), kind
    if kind == "probs_length":
        return item_bytes(item_id, f4([0.1] * DIM), f4([0.5, 0.5])), kind
    if kind == "nan_probs":
        return item_bytes(item_id, f4([0.1] * DIM), f4([math.nan, 0.5, 0.5])), kind
    if kind == "probs_sum":
        return item_bytes(item_id, f4([0.1] * DIM), f4([0.9, 0.9, 0.9])), kind
    if kind == "other_unit":
        return item_bytes(item_id, f4([0.1] * DIM), unit="OBJECT"), kind
    return LABELS.encode(
        {
            "label_id": "l",
            "assignment_id": "a",
            "item_id": item_id,
            "annotator_id": "x",
            "status": "LABELED",
            "value": "a",
            "root_cause": None,
            "started_at": 0,
            "submitted_at": 0,
        }
    ), kind


SCORER_SETTINGS = None


MODEL = ActiveModel.from_bundle(
    version="m1", bundle=committee(CLASSES, DIM), task_classes=CLASSES, embedding_dim=DIM
)


def scorer_settings(tmp: str) -> Any:
    return load_settings(
        kafka={"topic_prefix": "f."},
        task={"classes": CLASSES},
        metrics={"port": 0},
        ingest={"embedding_dim": DIM},
        paths={"state_dir": tmp},
    )


@FUZZ
@given(data=st.data())
def test_scorer_processor_dead_letters_every_bad_item_and_scores_every_good_one(
    data: st.DataObject, fuzz_counts: Counter, tmp_path_factory: Any
) -> None:
    global SCORER_SETTINGS
    if SCORER_SETTINGS is None:
        SCORER_SETTINGS = scorer_settings(str(tmp_path_factory.mktemp("scorer")))
    n = data.draw(st.integers(1, 25), label="batch size")
    batch, kinds = [], {}
    for offset in range(n):
        item_id = f"item-{offset}"
        value, kind = data.draw(scorer_inputs(item_id), label=f"message {offset}")
        batch.append(InMemoryMessage("f.items", value, item_id.encode(), 0, offset))
        kinds[offset] = kind
    with_model = data.draw(st.booleans(), label="with model")
    processor = ScorerProcessor(
        settings=SCORER_SETTINGS,
        policy=Policy(version="p1", goal="g", signal={"name": "entropy"}),
        model=MODEL if with_model else None,
    )
    out, producer = outputs("scorer")
    processor.process(batch, out)
    processor.close(out)
    out.wait_delivered(1)
    scored = {SingleObjectCodec("scores").decode(v)["item_id"] for v in producer.values("f.scores")}
    dead = dead_letters(producer)
    dead_offsets = {record["source_offset"] for record, _ in dead}
    good = {o for o, k in kinds.items() if k == "good"}
    assert scored == {f"item-{o}" for o in good}, "a good item was not scored (or a bad one was)"
    assert dead_offsets == set(kinds) - good, {o: kinds[o] for o in (set(kinds) - good) ^ dead_offsets}
    assert len(dead) == len(dead_offsets), "a bad item was dead-lettered twice"
    for record, headers in dead:
        assert headers["class"] and headers["message"] and headers["agent"] == "scorer"
        assert record["original_value"] == batch[record["source_offset"]].value()
    for kind in kinds.values():
        fuzz_counts[f"scorer processor: {kind}"] += 1


# ------------------------------------------------------------------------------------------ labels


def assignment_of(i: int) -> dict[str, Any]:
    """The i-th label's assignment: three annotators share the batch."""
    return records.assignment(f"a{i}", annotator_id=f"ann{i % 3}", item_id=f"it{i}", classes=CLASSES)


@st.composite
def label_inputs(draw: st.DrawFn, i: int) -> tuple[bytes | None, str]:
    kind = draw(
        st.sampled_from(
            [
                "good",
                "good",
                "good",
                "random",
                "truncated",
                "empty",
                "tombstone",
                "wrong_annotator",
                "wrong_item",
                "bad_value",
                "null_value",
                "huge_value",
                "unknown_assignment",
                "time_travel",
                "bad_root_cause",
                "item_record",
            ]
        )
    )
    item = f"it{i}"
    base = records.label(f"l{i}", of=assignment_of(i), value="a", seconds=5)
    if kind == "good":
        return LABELS.encode(base), kind
    if kind == "random":
        return draw(st.binary(max_size=120)), kind
    if kind == "truncated":
        encoded = LABELS.encode(base)
        return encoded[: draw(st.integers(0, len(encoded) - 1))], kind
    if kind == "empty":
        return b"", kind
    if kind == "tombstone":
        return None, kind
    if kind == "item_record":
        return item_bytes(item, f4([0.0] * DIM)), kind
    changes = {
        "wrong_annotator": {"annotator_id": "intruder"},
        "wrong_item": {"item_id": "other-item"},
        "bad_value": {"value": draw(st.text(max_size=10).filter(lambda v: v not in CLASSES))},
        "null_value": {"value": None},
        "huge_value": {"value": "z" * 200_000},
        "unknown_assignment": {"assignment_id": "never-assigned"},
        "time_travel": {"submitted_at": base["started_at"] - timedelta(seconds=1)},
        "bad_root_cause": {"root_cause": "aliens"},
    }[kind]
    return LABELS.encode({**base, **changes}), kind


@FUZZ
@given(data=st.data())
def test_labels_processor_dead_letters_every_bad_label(data: st.DataObject, fuzz_counts: Counter) -> None:
    n = data.draw(st.integers(1, 20), label="batch size")
    index = AssignmentIndex(codec=ASSIGNMENTS, agent="labels", max_size=1_000)
    for i in range(n):
        index.add(assignment_of(i))
    processor = LabelsProcessor(
        codec=LABELS,
        assignments=index,
        validator=LabelRules(task_classes=CLASSES, root_causes=["model_bias"]),
        qa=QaTracker(gold={}, window=50, top_n=5, min_checks=1),
        hold_unknown_s=0,
        max_seen=1_000,
        clock=lambda: 1_000.0,
    )
    batch, kinds = [], {}
    for i in range(n):
        value, kind = data.draw(label_inputs(i), label=f"label {i}")
        batch.append(InMemoryMessage("f.labels", value, f"it{i}".encode(), 0, i))
        kinds[i] = kind
    out, producer = outputs("labels")
    processor.process(batch, out)
    processor.process(batch, out)  # a replayed batch: idempotent, nothing dead-lettered twice
    dead = dead_letters(producer)
    offsets = Counter(record["source_offset"] for record, _ in dead)
    bad = {o for o, k in kinds.items() if k != "good"}
    assert set(offsets) == bad, {o: kinds[o] for o in set(offsets) ^ bad}
    # A valid-but-wrong label is decided once (its id is remembered); undecodable bytes carry no id,
    # so a replay dead-letters them again (at-least-once; consumers dedupe by topic/partition/offset).
    assert all(
        count == 1
        for o, count in offsets.items()
        if kinds[o] not in {"random", "truncated", "empty", "tombstone", "item_record"}
    )
    for record, headers in dead:
        assert headers["class"] and headers["message"] and headers["agent"] == "labels"
        assert record["original_value"] == batch[record["source_offset"]].value()
        assert "z" * 1000 not in headers["message"], "a label payload was copied into the error message"
    for kind in kinds.values():
        fuzz_counts[f"labels processor: {kind}"] += 1


# ------------------------------------------------------------------------------------------ single records
# Single hostile records that must each be a dead letter, named so a failure says which one.


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_scorer_dead_letters_non_finite_embeddings(bad: float, tmp_path: Any) -> None:
    """A NaN or infinite embedding is a dead letter: the scorer cannot rank it and must not crash-loop."""
    processor = ScorerProcessor(
        settings=scorer_settings(str(tmp_path)),
        model=MODEL,
        policy=Policy(version="p1", goal="g", signal={"name": "entropy"}),
    )
    out, producer = outputs("scorer")
    good = InMemoryMessage("f.items", item_bytes("ok", f4([0.1] * DIM)), b"ok", 0, 0)
    poison = InMemoryMessage("f.items", item_bytes("bad", f4([bad] + [0.1] * (DIM - 1))), b"bad", 0, 1)
    processor.process([good, poison], out)
    assert [r["source_offset"] for r, _ in dead_letters(producer)] == [1]


def test_labels_processor_dead_letters_tombstones() -> None:
    """A tombstone (null value) on the labels topic is a dead letter, not a TypeError."""
    index = AssignmentIndex(codec=ASSIGNMENTS, agent="labels", max_size=10)
    processor = LabelsProcessor(
        codec=LABELS,
        assignments=index,
        validator=LabelRules(task_classes=CLASSES, root_causes=[]),
        qa=QaTracker(gold={}, window=5, top_n=1, min_checks=1),
        hold_unknown_s=0,
        max_seen=10,
        clock=lambda: 0.0,
    )
    out, producer = outputs("labels")
    processor.process([InMemoryMessage("f.labels", None, b"k", 0, 7)], out)
    assert [r["source_offset"] for r, _ in dead_letters(producer)] == [7]
