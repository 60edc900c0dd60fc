"""One item, one verdict: the SDK (before sending), the scorer (after reading, vectorised over a batch)
and the item contract's per-record form refuse the same items for the same reason."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alstream.agents.scorer.processor import ScorerProcessor
from alstream.agents.selection.policy import Policy
from alstream.contracts.items import ALL_REASONS, SDK_REASONS, ItemRules, Refusals
from alstream.ingest.validation import ItemValidator
from alstream.settings import load_settings
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.dead_letters import error_headers
from alstream.streams.testing import InMemoryMessage, in_memory_outputs

DIM = 4
CLASSES = ["a", "b", "c"]
SETTINGS = load_settings(
    kafka={"topic_prefix": "c."},
    task={"classes": CLASSES},
    ingest={"embedding_dim": DIM, "max_id_length": 12},
    metrics={"port": 0},
)
RULES = ItemRules.from_settings(SETTINGS)
ITEMS = SingleObjectCodec("items")
NOW_MS = int(time.time() * 1000)
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def f4(values: list[float]) -> bytes:
    return np.asarray(values, dtype="<f4").tobytes()


def mostly(valid: st.SearchStrategy[Any], broken: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Valid four times in five, so that every rule, the late ones included, gets to decide."""
    return st.sampled_from(range(5)).flatmap(lambda k: valid if k else broken)


finite = st.floats(-10, 10, width=32)
odd = st.sampled_from([math.nan, math.inf, -math.inf, 1e30, -1.0, 1.5, 0.0, 1.0])
vectors = mostly(
    st.lists(finite, min_size=DIM, max_size=DIM).map(f4),
    st.one_of(
        st.lists(st.one_of(finite, odd), min_size=0, max_size=DIM + 2).map(f4),
        st.binary(max_size=4 * DIM + 3),
    ),
)


@st.composite
def valid_probabilities(draw: st.DrawFn) -> bytes | None:
    weights = np.asarray(draw(st.lists(st.floats(0.05, 1), min_size=3, max_size=3)))
    return f4(list(weights / weights.sum()))


probabilities = mostly(
    st.one_of(st.none(), valid_probabilities()),
    st.one_of(
        st.lists(st.one_of(st.floats(-0.5, 1.5, width=32), odd), min_size=1, max_size=4).map(f4),
        st.lists(st.floats(0, 0.5, width=32), min_size=3, max_size=3).map(f4),  # sums below 1
        st.binary(max_size=14),
    ),
)
hardness = mostly(
    st.none(),
    st.fixed_dictionaries(
        {
            "object_hardness": st.one_of(
                st.lists(st.one_of(st.floats(0, 1, width=32), odd), max_size=3).map(f4), st.binary(max_size=6)
            ),
            "pixel_mean_uncertainty": st.one_of(st.none(), st.floats(-0.5, 1.5, width=32), st.just(math.nan)),
            "pixel_uncertain_fraction": st.one_of(st.none(), st.floats(0, 1, width=32)),
        }
    ),
)
# Event times away from the future boundary, so the SDK's and the scorer's clocks (a few ms apart)
# cannot disagree about one: long before, just before, at and after 1970, now, far future.
event_times = mostly(
    st.sampled_from([0, 1, NOW_MS - 3_600_000, NOW_MS]),
    st.sampled_from([-86_400_000, -1, NOW_MS + 3_600_000, 253_370_764_800_000]),
)
ids = mostly(st.text(min_size=1, max_size=12), st.one_of(st.just(""), st.text(min_size=13, max_size=20)))


@st.composite
def units_and_parents(draw: st.DrawFn) -> tuple[str, str | None]:
    unit = draw(mostly(st.just("ITEM"), st.sampled_from(["OBJECT", "REGION", "PIXEL_MASK"])))
    parent = draw(mostly(st.none() if unit == "ITEM" else st.text(min_size=1, max_size=12), st.none() | ids))
    return unit, parent


@st.composite
def items(draw: st.DrawFn) -> dict[str, Any]:
    unit, parent = draw(units_and_parents())
    return {
        "item_id": draw(ids),
        "source": draw(mostly(st.just("cam-7"), st.just(""))),
        "unit_of_work": unit,
        "parent_id": parent,
        "embedding": draw(vectors),
        "probabilities": draw(probabilities),
        "hardness": draw(hardness),
        "uri": None,
        "metadata": {},
        "event_time": draw(event_times),
    }


def sdk_reasons(batch: list[dict[str, Any]]) -> dict[int, str]:
    prepared = ItemValidator(settings=SETTINGS).prepare_records([dict(record) for record in batch])
    return {r.index: r.reason for r in prepared.rejections}


def scorer_reasons(batch: list[dict[str, Any]]) -> dict[int, str]:
    outputs, producer = in_memory_outputs(agent="s", dead_letter_topic="dlq")
    processor = ScorerProcessor(
        settings=SETTINGS,
        policy=Policy(version="p1", goal="g", signal={"name": "entropy"}),
        clock=lambda: NOW_MS / 1000,
    )
    messages = [InMemoryMessage("c.items", ITEMS.encode(r), b"k", 0, i) for i, r in enumerate(batch)]
    processor.process(messages, outputs)
    letters = [error_headers(m.headers()) for m in producer.topics.get("dlq", [])]
    return {int(headers["offset"]): headers["class"] for headers in letters}  # the item's own offset


def record_reasons(batch: list[dict[str, Any]]) -> dict[int, str]:
    verdicts = {i: RULES.check_record(record, now_ms=NOW_MS) for i, record in enumerate(batch)}
    return {i: v.reason for i, v in verdicts.items() if v is not None}


@FUZZ
@given(batch=st.lists(items(), min_size=1, max_size=8))
def test_sdk_scorer_and_per_record_form_agree(batch: list[dict[str, Any]]) -> None:
    expected = record_reasons(batch)
    assert sdk_reasons(batch) == expected
    scorer = scorer_reasons(batch)
    for i, record in enumerate(batch):
        if i in expected:
            assert scorer.get(i) == expected[i], (i, record)
        else:  # valid items the scorer still refuses: another unit of work than its policy's
            assert scorer.get(i) in (None, "policy_unit_of_work"), (i, record)
            assert (scorer.get(i) is None) == (record["unit_of_work"] == "ITEM")


def test_vectorised_score_rule_matches_the_candidate_rule() -> None:
    from alstream.contracts.candidates import finite_scores, score_problem

    scores = np.array([0.0, -1.5, 1e308, np.nan, np.inf, -np.inf, 3.0])
    found = Refusals()
    mask = RULES.check_scores(scores, found, signal="entropy")
    assert mask.tolist() == finite_scores(scores).tolist()
    assert mask.tolist() == [score_problem(float(s)) is None for s in scores]
    assert sorted(found) == [3, 4, 5] and {v.reason for v in found.values()} == {"score_not_finite"}


@pytest.mark.parametrize("reason", ALL_REASONS)
def test_reason_codes_are_distinct_snake_case(reason: str) -> None:
    assert reason == reason.lower() and reason.isidentifier() and ALL_REASONS.count(reason) == 1
    assert set(SDK_REASONS) <= set(ALL_REASONS)
