"""The agreement agent's batch logic.

Per validated label: overlapped answers are collected per overlap group; a closed group with two or
more answers is one observation for the window statistics and the spike detector, and its plurality
answer is checked against the model's prediction (model failures). Single-assignment labels are
checked for model failures directly. A spike emits one calibration event with the 20-50 most
contested recent items.

Restore mode replays the committed labels through the same path with outputs and metrics off, so
windows, cooldowns and dedupe sets survive a restart and nothing is emitted twice.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from confluent_kafka import Message

from alstream.agents.agreement import metrics as m
from alstream.agents.agreement.candidates import CandidateIndex
from alstream.agents.agreement.consolidate import consolidate, is_model_failure, root_cause_of
from alstream.agents.agreement.contested import CompletedItem, select_contested
from alstream.agents.agreement.failures import FailureRecorder, ModelFailure
from alstream.agents.agreement.overlap import ClosedGroup, OverlapTracker
from alstream.agents.agreement.spike import SpikeDecision, SpikeDetector
from alstream.agents.agreement.statistics import AgreementSummary, annotator_disagreement, summarize
from alstream.agents.labels.assignments import AssignmentIndex
from alstream.agents.labels.processor import dedupe_key
from alstream.contracts.calibration import CalibrationRules
from alstream.contracts.enums import ANSWERED
from alstream.contracts.labels import LabelRules
from alstream.observability.metrics import AGENT_ERRORS
from alstream.streams.bounded import BoundedMap
from alstream.streams.codecs import RecordCodec
from alstream.streams.exceptions import DecodeError

log = logging.getLogger(__name__)


class AgreementOutputs(Protocol):
    def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | str | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None: ...


class AgreementProcessor:
    def __init__(
        self,
        *,
        label_codec: RecordCodec,
        calibration_codec: RecordCodec,
        calibration_topic: str,
        assignments: AssignmentIndex,
        candidates: CandidateIndex,
        validator: LabelRules,
        tracker: OverlapTracker,
        detector: SpikeDetector,
        failures: FailureRecorder,
        classes: Sequence[str],
        window_items: int,
        pool_items: int,
        calibration_min_items: int,
        calibration_max_items: int,
        hold_unknown_s: float,
        max_seen: int,
        refresh: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
        calibration_rules: CalibrationRules | None = None,
    ) -> None:
        self.label_codec = label_codec
        self.calibration_rules = calibration_rules or CalibrationRules()
        self.calibration_codec = calibration_codec
        self.calibration_topic = calibration_topic
        self.assignments = assignments
        self.candidates = candidates
        self.validator = validator
        self.tracker = tracker
        self.detector = detector
        self.failures = failures
        self.classes = list(classes)
        self.window_items = window_items
        self.calibration_min_items = calibration_min_items
        self.calibration_max_items = calibration_max_items
        self.hold_unknown_s = hold_unknown_s
        self.refresh = refresh
        self.clock = clock
        self.recent: deque[CompletedItem] = deque(maxlen=max(pool_items, window_items))
        self.seen: BoundedMap[str, bool] = BoundedMap(max_size=max_seen)
        self.held: dict[str, tuple[dict[str, Any], float]] = {}
        self.sequence = 0
        self.live = True
        self.last_decision: SpikeDecision | None = None
        self.last_event: dict[str, Any] | None = None

    # -- BatchProcessor protocol -------------------------------------------------------------
    def process(self, messages: list[Message], outputs: AgreementOutputs) -> None:
        self.refresh()
        labels = []
        for message in messages:
            try:
                labels.append(self.label_codec.decode(message.value()))
            except DecodeError:
                continue  # tombstones included: the labels agent dead-letters it
        # partitions arrive in chunks: restore submission order within the batch, so the window
        # follows the annotators' timeline rather than the broker's partition layout
        for label in sorted(labels, key=lambda lab: lab["submitted_at"]):
            self._handle(label, outputs)
        self._step(outputs)

    def on_idle(self, outputs: AgreementOutputs) -> None:
        self.refresh()
        self._step(outputs)

    def restore(self, messages: list[Message]) -> None:
        self.live = False
        try:
            self.process(messages, _NoOutputs())
            self.held.clear()  # anything still unresolved is re-read live if it is ever valid
        finally:
            self.live = True

    # -- internals ---------------------------------------------------------------------------
    def _step(self, outputs: AgreementOutputs) -> None:
        now = self.clock()
        for label_id, (label, deadline) in list(self.held.items()):
            if self.assignments.get(label["assignment_id"]) is not None:
                del self.held[label_id]
                self._handle(label, outputs)
            elif now >= deadline:
                del self.held[label_id]  # unknown assignment: the labels agent dead-letters it
        for closed in self.tracker.sweep(now):
            self._closed(closed, outputs)
        if self.live:
            self.failures.flush()
            self._export_gauges()

    def _handle(self, label: dict[str, Any], outputs: AgreementOutputs) -> None:
        """Only labels the label contract accepts count (the labels agent dead-letters the others)."""
        label_id = dedupe_key(label["label_id"])
        if label_id in self.seen:
            return
        if self.validator.record_violation(label) is not None:
            self.seen[label_id] = True
            return
        assignment = self.assignments.get(label["assignment_id"])
        if assignment is None:
            self.held.setdefault(label_id, (label, self.clock() + self.hold_unknown_s))
            return
        self.seen[label_id] = True
        if self.validator.verdict(label, assignment) is not None:
            return
        group = assignment.get("overlap_group")
        if group:
            closed = self.tracker.add(group, label, self.clock())
            if closed is not None:
                self._closed(closed, outputs)
        elif label["status"] == ANSWERED:
            self._check_failure(label["item_id"], {label["annotator_id"]: label}, overlap=False)

    def _closed(self, closed: ClosedGroup, outputs: AgreementOutputs) -> None:
        ratings = closed.ratings
        if ratings:
            self._check_failure(closed.item_id, closed.answers, overlap=True)
        if len(ratings) < 2:
            return
        candidate = self.candidates.get(closed.item_id) or {}
        self.sequence += 1
        item = CompletedItem(
            item_id=closed.item_id,
            ratings=ratings,
            predicted_class=candidate.get("predicted_class"),
            sequence=self.sequence,
            root_causes=closed.root_causes,
            completed_at=closed.completed_at,
        )
        self.recent.append(item)
        if self.live:
            m.ITEMS.inc()
        decision = self.detector.observe(len(set(ratings.values())) > 1)
        self.last_decision = decision
        if decision.fired and self.live:
            self._emit_calibration(decision, outputs)

    def _check_failure(self, item_id: str, answers: dict[str, dict[str, Any]], *, overlap: bool) -> None:
        if not self.live:
            return
        candidate = self.candidates.get(item_id)
        if candidate is None:
            return
        labeled = [lab for lab in answers.values() if lab["status"] == ANSWERED]
        answer = consolidate([lab["value"] for lab in labeled])
        if not is_model_failure(answer, candidate.get("predicted_class")):
            return
        assert answer is not None
        failure = ModelFailure(
            item_id=item_id,
            consolidated_label=answer,
            predicted_class=candidate["predicted_class"],
            confidence=candidate.get("confidence"),
            root_cause=root_cause_of([lab.get("root_cause") for lab in answers.values()]),
            annotators=sorted(answers),
            label_ids=sorted(lab["label_id"] for lab in answers.values()),
            overlap=overlap,
            model_version=candidate.get("model_version"),
            policy_version=candidate.get("policy_version"),
            detected_at=datetime.now(UTC).isoformat(),
        )
        self.failures.record(failure, candidate.get("embedding"))

    def window(self) -> list[CompletedItem]:
        return list(self.recent)[-self.window_items :]

    def _emit_calibration(self, decision: SpikeDecision, outputs: AgreementOutputs) -> None:
        window = self.window()
        summary = summarize([item.ratings for item in window], self.classes)
        chosen = select_contested(
            list(self.recent), min_items=self.calibration_min_items, max_items=self.calibration_max_items
        )
        digest = hashlib.sha1("|".join(item.item_id for item in window).encode()).hexdigest()[:16]
        calibration_id = f"cal-{digest}"
        times = [item.completed_at for item in window if item.completed_at is not None]
        now = datetime.now(UTC)
        event = {
            "calibration_id": calibration_id,
            "window_start": min(times) if times else now,
            "window_end": max(times) if times else now,
            "disagreement_rate": float(decision.window_rate or 0.0),
            "baseline_rate": float(decision.baseline_rate or 0.0),
            "sample_size": decision.window_size,
            "krippendorff_alpha": summary.krippendorff_alpha,
            "fleiss_kappa": summary.fleiss_kappa,
            "evidence": self._evidence(decision, summary, window),
            "annotator_ids": sorted({a for item in window for a in item.ratings}),
            "items": [
                {
                    "item_id": item.item_id,
                    "disagreement": item.disagreement,
                    "label_counts": {
                        v: list(item.ratings.values()).count(v) for v in set(item.ratings.values())
                    },
                    "predicted_class": item.predicted_class,
                }
                for item in chosen
            ],
            "detected_at": now,
        }
        violation = self.calibration_rules.verdict(event, now_ms=int(now.timestamp() * 1000))
        if violation is not None:  # the router would refuse it: never sent, loudly reported
            AGENT_ERRORS.labels("agreement", violation.reason).inc()
            log.error("calibration %s not emitted (%s): %s", calibration_id, violation.reason, violation)
            return
        outputs.produce(
            self.calibration_topic, key=calibration_id, value=self.calibration_codec.encode(event)
        )
        m.CALIBRATION_EVENTS.inc()
        self.last_event = event
        log.warning(
            "disagreement spike: calibration %s with %d items; %s",
            calibration_id,
            len(chosen),
            event["evidence"],
        )

    def _evidence(
        self, decision: SpikeDecision, summary: AgreementSummary, window: list[CompletedItem]
    ) -> str:
        def fmt(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f}"

        parts = [decision.evidence]
        parts.append(
            f"window statistics: percent agreement {fmt(summary.percent_agreement)}, Krippendorff's alpha "
            f"{fmt(summary.krippendorff_alpha)}, Fleiss' kappa {fmt(summary.fleiss_kappa)}, "
            f"mean Cohen's kappa {fmt(summary.mean_cohen_kappa())}"
        )
        per_class = ", ".join(f"{c} {fmt(v)}" for c, v in summary.per_class.items())
        parts.append(f"specific agreement per class: {per_class}")
        by_annotator = sorted(
            annotator_disagreement([i.ratings for i in window], min_items=3).items(), key=lambda kv: -kv[1]
        )[:5]
        if by_annotator:
            parts.append(
                "annotators most often against the others: "
                + ", ".join(f"{a} {rate:.0%}" for a, rate in by_annotator)
            )
        return "; ".join(parts)

    def _export_gauges(self) -> None:
        decision = self.last_decision
        if decision is not None:
            if decision.window_rate is not None:
                m.DISAGREEMENT_RATE.set(decision.window_rate)
            if decision.baseline_rate is not None:
                m.BASELINE_RATE.set(decision.baseline_rate)
            m.SPIKE.set(1 if decision.active else 0)
        window = self.window()
        if len(window) < 2:
            return
        summary = summarize([item.ratings for item in window], self.classes)
        for gauge, value in (
            (m.KRIPPENDORFF_ALPHA, summary.krippendorff_alpha),
            (m.FLEISS_KAPPA, summary.fleiss_kappa),
            (m.PERCENT_AGREEMENT, summary.percent_agreement),
            (m.COHEN_KAPPA_MEAN, summary.mean_cohen_kappa()),
        ):
            if value is not None:
                gauge.set(value)
        for cls, value in summary.per_class.items():
            if value is not None:
                m.CLASS_AGREEMENT.labels(cls).set(value)


class _NoOutputs:
    def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | str | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        raise AssertionError("restore mode must not produce")
