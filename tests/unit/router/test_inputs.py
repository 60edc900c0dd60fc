"""What the router refuses before a record may change a shard (alstream/agents/router/inputs.py)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from alstream.agents.router.inputs import InputContract
from alstream.agents.router.quotas import Quotas
from alstream.agents.router.state import RouterShard, from_ms
from alstream.contracts.annotator_events import AnnotatorEventRules
from alstream.contracts.candidates import CandidateRules
from alstream.contracts.ids import ROUTER_TICK
from alstream.contracts.labels import LabelRules
from tests.support import records

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
CLASSES = ["cat", "dog", "fox"]
QUOTAS = Quotas(
    version="q1",
    max_hard_per_day=100,
    min_normal_share=0.0,
    random_share=0.0,
    qa_rate=0.0,
    overlap_fraction=0.0,
    max_in_flight=10,
    lease_seconds=600,
)
INPUTS = InputContract(
    candidates=CandidateRules(embedding_dim=4),
    events=AnnotatorEventRules(),
    labels=LabelRules(task_classes=CLASSES, root_causes=["model_bias"]),
    classes=CLASSES,
)


def shard_with_a_lease() -> tuple[RouterShard, dict[str, Any]]:
    """A shard where annotator ``ann`` holds the lease of item ``it1`` (made at NOW)."""
    shard = RouterShard(shard=0, shards=1, quotas=QUOTAS, classes=CLASSES)
    shard.handle_candidate(records.candidate("it1", selected_at=NOW), now_ms=NOW_MS)
    event = records.annotator_event("ann", occurred_at=NOW)
    (assignment,) = shard.handle_annotator_event(event, now_ms=NOW_MS).assignments
    return shard, assignment


def verdict(shard: RouterShard, topic: str, record: dict[str, Any]) -> str | None:
    violation = INPUTS.violation(shard, topic, record, now_ms=NOW_MS)
    return None if violation is None else violation.reason


def test_labels_the_labels_agent_refuses_never_reach_the_lease() -> None:
    shard, made = shard_with_a_lease()
    cases = {
        "ValueNotInClasses": records.label(of=made, value="zebra"),
        "LateLabel": records.label(of=made, submitted_at=made["assigned_at"].replace(year=9999)),
        "WrongAnnotator": {**records.label(of=made), "annotator_id": "eve"},
        "WrongItem": {**records.label(of=made), "item_id": "it2"},
        "UnknownRootCause": records.label(of=made, root_cause="sunspots"),
        "ReservedAnnotator": {**records.label(of=made), "annotator_id": "__ann"},
        "StartedBeforeAssigned": {**records.label(of=made), "started_at": NOW - timedelta(hours=1)},
    }
    for reason, label in cases.items():
        assert verdict(shard, "labels", label) == reason
    assert verdict(shard, "labels", records.label(of=made)) is None
    # and a valid label completes it
    assert shard.handle_label(records.label(of=made), now_ms=NOW_MS + 60_000).completed == 1


def test_a_label_without_a_lease_here_is_judged_on_its_own_only() -> None:
    shard, made = shard_with_a_lease()
    elsewhere = {**made, "assignment_id": "another-shard's"}
    assert verdict(shard, "labels", records.label(of=elsewhere)) is None  # left to the labels agent
    assert verdict(shard, "labels", records.label(of=elsewhere, value="zebra")) == "ValueNotInClasses"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"occurred_at": datetime(1970, 1, 1, tzinfo=UTC)}, "ImpossibleTime"),  # 7e9 s of "latency"
        ({"occurred_at": NOW + timedelta(hours=1)}, "ImpossibleTime"),
        ({"occurred_at": NOW - timedelta(days=8)}, "ImpossibleTime"),
        ({"annotator_id": "__admin"}, "ReservedAnnotator"),
        ({"annotator_id": ""}, "InvalidId"),
        ({"event_id": ""}, "InvalidId"),
        ({"ready_for": 0}, "OutOfRange"),
        ({"ready_for": 101}, "OutOfRange"),
        ({}, None),
        ({"occurred_at": NOW + timedelta(minutes=4)}, None),  # within the clock-skew allowance
    ],
)
def test_annotator_events(overrides: dict[str, Any], reason: str | None) -> None:
    shard, _ = shard_with_a_lease()
    event = {**records.annotator_event("ann-2", occurred_at=NOW), **overrides}
    assert verdict(shard, "annotator-events", event) == reason


def test_the_routers_own_heartbeat_is_the_one_reserved_id_it_takes() -> None:
    shard, _ = shard_with_a_lease()
    tick = records.annotator_event(ROUTER_TICK, ready_for=0, occurred_at=NOW)
    assert verdict(shard, "annotator-events", tick) is None
    assert (
        verdict(shard, "annotator-events", {**tick, "annotator_id": "__router_tock__"}) == "ReservedAnnotator"
    )


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"score": math.nan}, "NotFinite"),
        ({"score": math.inf}, "NotFinite"),
        ({"score": -math.inf}, "NotFinite"),
        ({"confidence": math.nan}, "NotFinite"),
        ({"confidence": 1.5}, "OutOfRange"),
        ({"item_id": ""}, "InvalidId"),
        ({"embedding": b"\x00" * 12}, "WrongEmbeddingSize"),
        ({"embedding": np.full(4, np.nan, dtype="<f4").tobytes()}, "NotFinite"),
        ({"selected_at": from_ms(NOW_MS + 3_600_000)}, "ImpossibleTime"),
        ({"window_start": datetime(1969, 12, 31, tzinfo=UTC)}, "ImpossibleTime"),
        ({}, None),
    ],
)
def test_candidates(overrides: dict[str, Any], reason: str | None) -> None:
    shard, _ = shard_with_a_lease()
    candidate = {**records.candidate("it9", selected_at=NOW, dim=4), **overrides}
    assert verdict(shard, "candidates", candidate) == reason
