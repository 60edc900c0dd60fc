"""The labels agent's batch logic: validate, dedupe, hold early labels, measure.

Validity is the label contract's (:class:`alstream.contracts.labels.LabelRules`), the same verdict the
agreement agent, release compaction and the router reach: only labels it accepts are counted in labels
per week, time per item and QA, so the dashboards and the releases describe the same labels.

At-least-once and idempotent: a label id is handled once (accepted or dead-lettered); a replayed batch
finds its ids already seen and only counts duplicates. A label that breaks a rule of its own is refused
at once; one that overtakes its assignment is held up to ``hold_unknown_s`` and re-checked on every
batch and idle poll before it is called unknown.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from confluent_kafka import Message

from alstream.agents.labels import metrics as m
from alstream.agents.labels.assignments import AssignmentIndex
from alstream.agents.labels.qa import QaTracker
from alstream.contracts.enums import ANSWERED
from alstream.contracts.exceptions import ContractViolation, UndecodableLabel, UnknownAssignment
from alstream.contracts.labels import LabelRules
from alstream.streams.bounded import BoundedMap
from alstream.streams.codecs import RecordCodec
from alstream.streams.exceptions import DecodeError

log = logging.getLogger(__name__)
# Unknown-assignment labels older than this are not re-held on restart: their dead letters may have
# expired with the topic's retention, so "not dead-lettered yet" can no longer be told apart.
REHOLD_MAX_AGE_S = 30 * 24 * 3600.0


class LabelOutputs(Protocol):
    def dead_letter(self, message: Message, error: BaseException | str, text: str | None = None) -> None: ...


def dedupe_key(label_id: str) -> str:
    """What the dedupe set remembers of a label id: the id, or a digest of an absurdly long one (any
    client can send a label id of megabytes; the contract refuses it, the set must not keep it)."""
    if len(label_id) <= 1024:
        return label_id
    return "sha256:" + hashlib.sha256(label_id.encode(errors="surrogatepass")).hexdigest()


@dataclass
class _Held:
    message: Message
    label: dict[str, Any]
    deadline: float


class LabelsProcessor:
    """One instance per agent process; ``refresh`` pulls newly seen assignments before each step."""

    def __init__(
        self,
        *,
        codec: RecordCodec,
        assignments: AssignmentIndex,
        validator: LabelRules,
        qa: QaTracker,
        hold_unknown_s: float,
        max_seen: int,
        refresh: Callable[[], object] = lambda: None,
        caught_up: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.codec = codec
        self.assignments = assignments
        self.validator = validator
        self.qa = qa
        self.hold_unknown_s = hold_unknown_s
        self.refresh = refresh
        self.caught_up = caught_up
        self.clock = clock
        self.seen: BoundedMap[str, bool] = BoundedMap(max_size=max_seen)
        self.held: dict[str, _Held] = {}
        self.dead_lettered: set[tuple[int, int]] = set()  # (partition, offset) of labels dead-lettered before
        self._exported_annotators: set[str] = set()

    # -- BatchProcessor protocol -------------------------------------------------------------
    def process(self, messages: list[Message], outputs: LabelOutputs) -> None:
        self.refresh()
        for message in messages:
            self._handle(message, outputs)
        self._recheck_held(outputs)
        self._export_gauges()

    def on_idle(self, outputs: LabelOutputs) -> None:
        self.refresh()
        self._recheck_held(outputs)
        self._export_gauges()

    # -- restore mode ------------------------------------------------------------------------
    def restore(self, messages: list[Message]) -> None:
        """Rebuild state from already-committed labels: no outputs, no counters.

        A label that is not in ``dead_lettered`` (partition, offset pairs this agent already
        dead-lettered) and whose assignment is still unknown, or known and refusing it, was still held
        when the previous process stopped: it is held again (the refused one decided at the next
        batch or idle pass), so it is neither lost nor dead-lettered twice. Labels older than
        ``REHOLD_MAX_AGE_S`` are not re-held (their dead letters may have expired with retention).
        """
        now = self.clock()
        for message in messages:
            try:
                label = self.codec.decode(message.value())
            except DecodeError:  # tombstones included
                continue
            label_id = dedupe_key(label["label_id"])
            if (message.partition(), message.offset()) in self.dead_lettered:
                self.seen[label_id] = True
                continue
            if label_id in self.seen or label_id in self.held:
                continue
            assignment = self.assignments.get(label["assignment_id"])
            _, timestamp_ms = message.timestamp()
            recent = now - timestamp_ms / 1000 < REHOLD_MAX_AGE_S
            if assignment is None and recent:
                self.held[label_id] = _Held(message, label, now + self.hold_unknown_s)
                continue
            if assignment is not None and recent and self.validator.verdict(label, assignment) is not None:
                # A refused label is always dead-lettered before its offset is committed, so one that
                # is committed, refused and not dead-lettered was held (its assignment unknown) when
                # the previous process stopped: its assignment is known now, so it is decided at once.
                self.held[label_id] = _Held(message, label, now)
                continue
            self.seen[label_id] = True
            if (
                assignment is not None
                and self.validator.verdict(label, assignment) is None
                and label["status"] == ANSWERED
            ):
                self.qa.check(
                    item_id=label["item_id"], annotator_id=label["annotator_id"], value=label.get("value")
                )
        m.PENDING.set(len(self.held))

    # -- internals ---------------------------------------------------------------------------
    def _handle(self, message: Message, outputs: LabelOutputs) -> None:
        if message.value() is None:  # a tombstone: any client can produce one
            self._reject(
                message,
                UndecodableLabel("null record value (a tombstone); a label record is required"),
                outputs,
            )
            return
        try:
            label = self.codec.decode(message.value())
        except DecodeError as exc:
            self._reject(message, exc, outputs)
            return
        label_id = dedupe_key(label["label_id"])
        if label_id in self.seen or label_id in self.held:
            m.DUPLICATES.inc()
            return
        violation = self.validator.record_violation(label)
        if violation is not None:  # no assignment can make it valid: refused without waiting
            self.seen[label_id] = True
            self._reject(message, violation, outputs)
            return
        assignment = self.assignments.get(label["assignment_id"])
        if assignment is None and self.hold_unknown_s > 0:
            self.held[label_id] = _Held(message, label, self.clock() + self.hold_unknown_s)
            return
        self._decide(message, label, assignment, outputs)

    def _recheck_held(self, outputs: LabelOutputs) -> None:
        now = self.clock()
        confirmed: bool | None = None  # asked at most once per pass, and only when a hold expired
        for label_id, held in list(self.held.items()):
            assignment = self.assignments.get(held.label["assignment_id"])
            if assignment is None and now >= held.deadline:
                if confirmed is None:
                    self.refresh()
                    confirmed = self.caught_up()  # true only once refresh() has taken every record
                assignment = self.assignments.get(held.label["assignment_id"])
                if assignment is None and not confirmed:
                    # The assignments topic is not provably read to its end (broker unreachable,
                    # catching up): calling the label unknown now could dead-letter a valid one.
                    held.deadline = now + self.hold_unknown_s
                    continue
            if assignment is not None or now >= held.deadline:
                del self.held[label_id]
                self._decide(held.message, held.label, assignment, outputs)
        m.PENDING.set(len(self.held))

    def _decide(
        self,
        message: Message,
        label: dict[str, Any],
        assignment: dict[str, Any] | None,
        outputs: LabelOutputs,
    ) -> None:
        self.seen[dedupe_key(label["label_id"])] = True
        violation = self.validator.verdict(label, assignment)
        if isinstance(violation, UnknownAssignment) and self.hold_unknown_s > 0:
            violation = UnknownAssignment(f"{violation} (waited {self.hold_unknown_s:g}s for it)")
        if violation is not None:
            self._reject(message, violation, outputs)
            return
        assert assignment is not None
        kind = assignment["kind"]
        status = label["status"]
        m.LABELS_TOTAL.labels(kind, status).inc()
        m.TIME_PER_ITEM.labels(kind).observe((label["submitted_at"] - label["started_at"]).total_seconds())
        if status == ANSWERED:
            outcome = self.qa.check(
                item_id=label["item_id"], annotator_id=label["annotator_id"], value=label["value"]
            )
            if outcome is not None:
                m.QA_CHECKS.inc()
                if not outcome.correct:
                    m.QA_ERRORS.inc()

    def _reject(
        self, message: Message, error: ContractViolation | DecodeError, outputs: LabelOutputs
    ) -> None:
        reason = error.reason if isinstance(error, ContractViolation) else type(error).__name__
        m.REJECTED.labels(reason).inc()
        outputs.dead_letter(message, error, str(error))
        # the reason only: the message quotes label values, which belong on the dead-letter topic, not in logs
        log.info(
            "label at %s[%s]@%s rejected: %s", message.topic(), message.partition(), message.offset(), reason
        )

    def _export_gauges(self) -> None:
        rate = self.qa.error_rate()
        if rate is not None:
            m.QA_ERROR_RATE.set(rate)
        worst = dict(self.qa.worst_annotators())
        for gone in self._exported_annotators - worst.keys():
            m.QA_ANNOTATOR_ERROR_RATE.remove(gone)
        for annotator, annotator_rate in worst.items():
            m.QA_ANNOTATOR_ERROR_RATE.labels(annotator).set(annotator_rate)
        self._exported_annotators = set(worst)
