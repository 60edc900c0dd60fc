"""AgreementProcessor without a broker: spikes emit one calibration event of 20-50 contested items,
a stationary stream emits none, failures are recorded once by root cause, restore emits nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from prometheus_client import REGISTRY

from alstream.agents.agreement.candidates import CandidateIndex
from alstream.agents.agreement.failures import FailureRecorder
from alstream.agents.agreement.overlap import OverlapTracker
from alstream.agents.agreement.processor import AgreementProcessor
from alstream.agents.agreement.spike import SpikeDetector
from alstream.agents.labels.assignments import AssignmentIndex
from alstream.agents.selection.failure_bank import FailureBank
from alstream.contracts.labels import LabelRules
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.testing import InMemoryMessage, InMemoryProducer
from tests.support import agreement_stream as sim
from tests.support import records

LABELS = SingleObjectCodec("labels")
CALIBRATION = SingleObjectCodec("calibration")


class Outputs:
    def __init__(self) -> None:
        self.producer = InMemoryProducer()

    def produce(self, topic: str, value: bytes, key: Any = None, headers: Any = None) -> None:
        self.producer.produce(topic, value=value, key=key)

    def events(self) -> list[dict[str, Any]]:
        return [CALIBRATION.decode(msg.value()) for msg in self.producer.topics["calibration"]]


def make(tmp_path: Path, assignments: list[dict], candidates: list[dict]) -> AgreementProcessor:
    index = AssignmentIndex(codec=SingleObjectCodec("assignments"), agent="agreement", max_size=100_000)
    for record in assignments:
        index.add(record)
    cands = CandidateIndex(codec=SingleObjectCodec("candidates"), agent="agreement", max_size=100_000)
    for record in candidates:
        cands.add(record)
    return AgreementProcessor(
        label_codec=LABELS,
        calibration_codec=CALIBRATION,
        calibration_topic="calibration",
        assignments=index,
        candidates=cands,
        validator=LabelRules(task_classes=sim.CLASSES, root_causes=["model_bias", "ambiguous_item"]),
        tracker=OverlapTracker(overlap_k=3, settle_s=60),
        detector=SpikeDetector(
            window_items=30,
            baseline_items=300,
            min_baseline_items=40,
            z_threshold=3.0,
            min_rate_increase=0.15,
            cooldown_items=100,
        ),
        failures=FailureRecorder(record_path=tmp_path / "failures.jsonl", bank_path=tmp_path / "bank.npz"),
        classes=sim.CLASSES,
        window_items=30,
        pool_items=200,
        calibration_min_items=20,
        calibration_max_items=50,
        hold_unknown_s=30,
        max_seen=100_000,
    )


def messages(labels: list[dict]) -> list[InMemoryMessage]:
    return [
        InMemoryMessage("labels", LABELS.encode(lab), lab["item_id"].encode(), 0, i)
        for i, lab in enumerate(labels)
    ]


def feed(processor: AgreementProcessor, labels: list[dict], outputs: Outputs, batch: int = 25) -> None:
    msgs = messages(labels)
    for start in range(0, len(msgs), batch):
        processor.process(msgs[start : start + batch], outputs)


def test_drifting_annotator_triggers_one_calibration_event_with_20_to_50_items(tmp_path: Path) -> None:
    assignments, candidates, labels = sim.overlapped_stream(seed=1, items=200, drift_from=100)
    processor = make(tmp_path, assignments, candidates)
    outputs = Outputs()
    feed(processor, labels, outputs)
    events = outputs.events()
    assert len(events) == 1
    event = events[0]
    assert 20 <= len(event["items"]) <= 50
    assert event["disagreement_rate"] > event["baseline_rate"] + 0.15
    assert event["sample_size"] == 30
    assert "annotators most often against the others: ann0" in event["evidence"]
    assert event["krippendorff_alpha"] is not None
    assert {item["predicted_class"] for item in event["items"]} == set(sim.CLASSES)  # spread across classes
    assert all(sum(item["label_counts"].values()) == 3 for item in event["items"])
    assert REGISTRY.get_sample_value("alstream_agreement_spike") == 1.0


def test_stationary_stream_emits_no_calibration(tmp_path: Path) -> None:
    assignments, candidates, labels = sim.overlapped_stream(seed=2, items=300)
    processor = make(tmp_path, assignments, candidates)
    outputs = Outputs()
    feed(processor, labels, outputs)
    assert outputs.events() == []
    assert processor.detector.observed == 300


def test_restore_rebuilds_state_and_emits_nothing(tmp_path: Path) -> None:
    assignments, candidates, labels = sim.overlapped_stream(seed=1, items=200, drift_from=100)
    processor = make(tmp_path, assignments, candidates)
    processor.restore(messages(labels))
    assert processor.detector.observed == 200
    outputs = Outputs()
    feed(processor, labels, outputs)  # the same labels again (at-least-once): all duplicates
    assert outputs.events() == []
    assert processor.detector.observed == 200


def test_model_failures_are_recorded_once_by_root_cause_and_fed_to_the_bank(tmp_path: Path) -> None:
    assignments = [
        records.assignment(
            f"s{i}", annotator_id="ann1", item_id=f"single{i}", kind="HARD", classes=sim.CLASSES
        )
        for i in range(3)
    ]
    candidates = [
        records.candidate(f"single{i}", dim=4, predicted_class="cat", confidence=0.9, uri=None)
        for i in range(3)
    ]
    labels = [
        sim.label("f0", of=assignments[0], value="dog", at=1, root_cause="model_bias"),  # failure, tagged
        sim.label("f1", of=assignments[1], value="bird", at=2),  # failure, untagged
        sim.label("f2", of=assignments[2], value="cat", at=3),  # model right
    ]
    before = REGISTRY.get_sample_value("alstream_model_failures_total", {"root_cause": "model_bias"}) or 0
    processor = make(tmp_path, assignments, candidates)
    feed(processor, labels, Outputs())
    make(tmp_path, assignments, candidates).process(messages(labels), Outputs())  # a restarted agent, replay
    failures = [json.loads(line) for line in (tmp_path / "failures.jsonl").read_text().splitlines()]
    assert sorted((r["item_id"], r["root_cause"]) for r in failures) == [
        ("single0", "model_bias"),
        ("single1", "untagged"),
    ]
    assert (
        REGISTRY.get_sample_value("alstream_model_failures_total", {"root_cause": "model_bias"}) == before + 1
    )
    bank = FailureBank.load(tmp_path / "bank.npz")
    assert sorted(bank.item_ids) == ["single0", "single1"]
    assert np.allclose(bank.embeddings[0], np.arange(4))
