"""One label stream, one verdict: the labels agent (what the dashboards count), the agreement agent and
release compaction (what a release holds) accept exactly the same labels, for the same reasons."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alstream.agents.agreement.candidates import CandidateIndex
from alstream.agents.agreement.failures import FailureRecorder
from alstream.agents.agreement.overlap import OverlapTracker
from alstream.agents.agreement.processor import AgreementProcessor
from alstream.agents.agreement.spike import SpikeDetector
from alstream.agents.labels.assignments import AssignmentIndex
from alstream.agents.labels.processor import LabelsProcessor
from alstream.agents.labels.qa import QaTracker
from alstream.agents.release.builder import LABELS_FILE, ReleaseInputs, build_release
from alstream.agents.release.compaction import compact
from alstream.contracts.labels import LabelRules
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.testing import InMemoryMessage
from tests.support import records

LABELS = SingleObjectCodec("labels")
ASSIGNMENTS = SingleObjectCodec("assignments")
ROOT_CAUSES = ["model_bias", "data_quality"]
RULES = LabelRules(task_classes=records.CLASSES, root_causes=ROOT_CAUSES)
SKEW = timedelta(milliseconds=RULES.skew_ms)
T0 = records.T0

# Three annotators, two assignments each (one of them overlapped, so the agreement agent groups it).
ASSIGNMENTS_MADE = [
    records.assignment(
        f"as-{annotator}-{n}",
        annotator_id=annotator,
        item_id=f"item-{n}",
        kind="OVERLAP" if n == 0 else "HARD",
        overlap_group="ovl-item-0" if n == 0 else None,
        lease_s=900,
    )
    for annotator in ("ann-1", "ann-2", "ann-3")
    for n in range(2)
]
LEASE_END = T0 + timedelta(seconds=900)

# What can happen to a label on its way, each a function of a valid label and its assignment.
DAMAGE: dict[str, Any] = {
    "none": lambda lab, a: lab,
    "skipped": lambda lab, a: {**lab, "status": "SKIPPED", "value": None},
    "skipped_with_value": lambda lab, a: {**lab, "status": "SKIPPED", "value": "cat"},
    "labeled_without_value": lambda lab, a: {**lab, "value": None},
    "value_not_a_class": lambda lab, a: {**lab, "value": "zebra"},
    "unknown_root_cause": lambda lab, a: {**lab, "root_cause": "sunspots"},
    "known_root_cause": lambda lab, a: {**lab, "root_cause": "model_bias"},
    "late": lambda lab, a: {
        **lab,
        "submitted_at": LEASE_END + SKEW + timedelta(minutes=1),
        "started_at": LEASE_END + SKEW,
    },
    "late_within_skew": lambda lab, a: {
        **lab,
        "submitted_at": LEASE_END + SKEW - timedelta(seconds=1),
        "started_at": LEASE_END,
    },
    "year_9999": lambda lab, a: {**lab, "submitted_at": lab["submitted_at"].replace(year=9999)},
    "started_before_assigned": lambda lab, a: {**lab, "started_at": T0 - SKEW - timedelta(seconds=1)},
    "submitted_before_started": lambda lab, a: {
        **lab,
        "submitted_at": lab["started_at"] - timedelta(seconds=1),
    },
    "wrong_annotator": lambda lab, a: {**lab, "annotator_id": "ann-9"},
    "reserved_annotator": lambda lab, a: {**lab, "annotator_id": "__ann-1"},
    "wrong_item": lambda lab, a: {**lab, "item_id": "item-x"},
    "unknown_assignment": lambda lab, a: {**lab, "assignment_id": "as-never-made"},
    "empty_label_id": lambda lab, a: {**lab, "label_id": ""},
}


@st.composite
def label_streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    stream = []
    for n in range(draw(st.integers(1, 25))):
        made = draw(st.sampled_from(ASSIGNMENTS_MADE))
        damage = draw(st.sampled_from(sorted(DAMAGE)))
        value = draw(st.sampled_from(records.CLASSES))
        label = records.label(f"lab-{n}", of=made, value=value, seconds=draw(st.integers(1, 120)))
        stream.append(DAMAGE[damage](label, made))
        if draw(st.integers(0, 5)) == 0:  # at-least-once delivery: the same label again
            stream.append(dict(stream[-1]))
    return stream


def labels_agent_accepts(stream: list[dict[str, Any]]) -> tuple[set[str], list[str]]:
    """The ids the labels agent accepts (counts in labels/week, time per item, QA) and its refusals."""
    index = AssignmentIndex(codec=ASSIGNMENTS, agent="labels", max_size=1_000)
    for made in ASSIGNMENTS_MADE:
        index.add(made)
    refused: list[tuple[str, str]] = []

    class Outputs:
        def dead_letter(self, message: Any, error: Any, text: str | None = None) -> None:
            refused.append((LABELS.decode(message.value())["label_id"], error.reason))

    processor = LabelsProcessor(
        codec=LABELS,
        assignments=index,
        validator=RULES,
        qa=QaTracker(gold={}, window=50, top_n=5, min_checks=1),
        hold_unknown_s=0,
        max_seen=10_000,
    )
    messages = [InMemoryMessage("labels", LABELS.encode(lab), b"k", 0, i) for i, lab in enumerate(stream)]
    processor.process(messages, Outputs())
    return {lab["label_id"] for lab in stream} - {lab_id for lab_id, _ in refused}, [r for _, r in refused]


def agreement_agent_accepts(stream: list[dict[str, Any]], tmp_dir: Any) -> tuple[set[str], set[str]]:
    """The ids the agreement agent lets into its overlap groups and failure checks."""
    index = AssignmentIndex(codec=ASSIGNMENTS, agent="agreement", max_size=1_000)
    for made in ASSIGNMENTS_MADE:
        index.add(made)
    tracker = OverlapTracker(overlap_k=10, settle_s=1e9)
    entered: set[str] = set()
    add = tracker.add

    def recording_add(group: str, label: dict[str, Any], now: float) -> Any:
        entered.add(label["label_id"])
        return add(group, label, now)

    tracker.add = recording_add  # type: ignore[method-assign]
    processor = AgreementProcessor(
        label_codec=LABELS,
        calibration_codec=SingleObjectCodec("calibration"),
        calibration_topic="calibration",
        assignments=index,
        candidates=CandidateIndex(codec=SingleObjectCodec("candidates"), agent="agreement", max_size=1_000),
        validator=RULES,
        tracker=tracker,
        detector=SpikeDetector(
            window_items=5,
            baseline_items=10,
            min_baseline_items=5,
            z_threshold=3.0,
            min_rate_increase=0.15,
            cooldown_items=100,
        ),
        failures=FailureRecorder(record_path=tmp_dir / "f.jsonl", bank_path=tmp_dir / "b.npz"),
        classes=records.CLASSES,
        window_items=5,
        pool_items=20,
        calibration_min_items=1,
        calibration_max_items=5,
        hold_unknown_s=0,
        max_seen=10_000,
        clock=lambda: 0.0,
    )
    overlapped = {made["assignment_id"] for made in ASSIGNMENTS_MADE if made["overlap_group"]}
    messages = [InMemoryMessage("labels", LABELS.encode(lab), b"k", 0, i) for i, lab in enumerate(stream)]
    processor.process(messages, None)
    return entered, overlapped


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=label_streams())
def test_labels_agent_agreement_and_release_accept_the_same_labels(
    stream: list[dict[str, Any]], tmp_path_factory: Any
) -> None:
    by_agent, refusals = labels_agent_accepts(stream)
    compaction = compact(stream, ASSIGNMENTS_MADE, rules=RULES)
    assert set(compaction.accepted_ids) == by_agent
    not_votes = {"duplicate", "superseded", "status_skipped", "status_cannot_label"}
    excluded = {reason: n for reason, n in compaction.excluded.items() if reason not in not_votes}
    assert excluded == {reason: refusals.count(reason) for reason in set(refusals)}

    entered, overlapped = agreement_agent_accepts(stream, tmp_path_factory.mktemp("agreement"))
    assert entered == {lab["label_id"] for lab in stream if lab["assignment_id"] in overlapped} & by_agent


def test_a_refused_root_cause_never_reaches_a_release() -> None:
    """13.2: a label the labels agent dead-letters as UnknownRootCause is not in labels.parquet, and its
    root cause is not in the manifest; a known one is."""
    made = ASSIGNMENTS_MADE[1]
    other = ASSIGNMENTS_MADE[3]
    stream = [
        records.label("bad-cause", of=made, value="dog", root_cause="sunspots"),
        records.label("good-cause", of=other, value="cat", root_cause="model_bias"),
    ]
    _, refusals = labels_agent_accepts(stream)
    assert refusals == ["UnknownRootCause"]
    built = build_release(
        ReleaseInputs(labels=stream, assignments=ASSIGNMENTS_MADE), cutoff=T0 + timedelta(days=1), rules=RULES
    )
    released = pq.read_table(_buffer(built.files[LABELS_FILE])).to_pylist()
    assert [row["label_id"] for row in released] == ["good-cause"]
    assert built.manifest["root_causes"] == {"model_bias": 1}
    assert built.manifest["excluded_labels"] == {"UnknownRootCause": 1}


def test_late_labels_count_nowhere() -> None:
    """13.2: a label submitted after its lease (beyond the clock-skew allowance) is refused by the labels
    agent, so labels/week, time per item and QA never count it, and no release holds it."""
    made = ASSIGNMENTS_MADE[1]
    late = DAMAGE["late"](records.label("late", of=made, value="dog"), made)
    in_time = records.label("in-time", of=ASSIGNMENTS_MADE[3], value="cat")
    accepted, refusals = labels_agent_accepts([late, in_time])
    assert accepted == {"in-time"} and refusals == ["LateLabel"]
    built = build_release(
        ReleaseInputs(labels=[late, in_time], assignments=ASSIGNMENTS_MADE),
        cutoff=T0 + timedelta(days=1),
        rules=RULES,
    )
    assert built.manifest["excluded_labels"] == {"LateLabel": 1}
    assert [row["label_id"] for row in pq.read_table(_buffer(built.files[LABELS_FILE])).to_pylist()] == [
        "in-time"
    ]


def _buffer(data: bytes) -> Any:
    import pyarrow as pa

    return pa.BufferReader(data)
