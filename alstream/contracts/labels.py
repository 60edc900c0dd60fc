"""Label rules: which labels count, for every consumer alike.

The labels agent (metrics, QA), the agreement agent, release compaction and the router (before a label
may complete a lease) all ask :meth:`LabelRules.verdict`, so a label is either valid everywhere or
refused everywhere, for the same reason. The rules, in the order they are applied:

Rules of the label alone (:meth:`LabelRules.record_violation`; the router and the labels agent apply
them as soon as they read the label, without waiting for its assignment):

* ``InvalidId``: ``label_id``, ``assignment_id``, ``item_id`` or ``annotator_id`` empty or too long;
* ``ReservedAnnotator``: ``annotator_id`` starts with ``__``;
* ``ValueNotInClasses``: a LABELED label without a value, or with one outside the task's classes;
* ``UnexpectedValue``: a SKIPPED or CANNOT_LABEL label with a value;
* ``SubmittedBeforeStarted``: ``submitted_at < started_at``;
* ``UnknownRootCause``: ``root_cause`` set but not in ``labels.root_causes``.

Rules against the label's assignment (:meth:`LabelRules.assignment_violation`):

* ``UnknownAssignment``: no such assignment (the labels agent waits ``labels.hold_unknown_s`` first);
* ``WrongAnnotator`` / ``WrongItem``: the label's annotator / item is not the assignment's;
* ``ValueNotInClasses``: the value is not among the assignment's classes;
* ``StartedBeforeAssigned``: ``started_at`` earlier than ``assigned_at`` minus the clock-skew allowance;
* ``LateLabel``: ``submitted_at`` later than ``lease_expires_at`` plus the clock-skew allowance. The
  assignment was void by then (its item went back to the pool and may be labeled by someone else), so a
  late label counts nowhere: not in labels per week, time per item, QA, agreement or a release.

Time rules compare the label with its assignment, never with a reader's clock, so every consumer
reaches the same verdict whenever it reads the label (a release rebuilt a year later included).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from alstream.contracts.enums import ANSWERED
from alstream.contracts.exceptions import (
    ContractViolation,
    InvalidId,
    LateLabel,
    ReservedAnnotator,
    StartedBeforeAssigned,
    SubmittedBeforeStarted,
    UndecodableLabel,
    UnexpectedValue,
    UnknownAssignment,
    UnknownRootCause,
    ValueNotInClasses,
    WrongAnnotator,
    WrongItem,
)
from alstream.contracts.ids import DEFAULT_MAX_ID_LENGTH, annotator_problem, id_problem, short
from alstream.contracts.times import SECOND_MS, iso, to_ms

if TYPE_CHECKING:
    from alstream.settings import AlstreamSettings

ID_FIELDS = ("label_id", "assignment_id", "item_id")
REASONS = tuple(
    violation.__name__
    for violation in (
        InvalidId,
        ReservedAnnotator,
        ValueNotInClasses,
        UnexpectedValue,
        SubmittedBeforeStarted,
        UnknownRootCause,
        UnknownAssignment,
        WrongAnnotator,
        WrongItem,
        StartedBeforeAssigned,
        LateLabel,
        UndecodableLabel,
    )
)


class LabelRules:
    """The label rules with the settings they depend on."""

    def __init__(
        self,
        *,
        task_classes: Sequence[str] = (),
        root_causes: Sequence[str],
        max_id_length: int = DEFAULT_MAX_ID_LENGTH,
        clock_skew_s: float = 300.0,
    ) -> None:
        self.task_classes = tuple(task_classes)
        self.root_causes = frozenset(root_causes)
        self.max_id_length = max_id_length
        self.skew_ms = int(clock_skew_s * SECOND_MS)

    @classmethod
    def from_settings(cls, settings: AlstreamSettings) -> LabelRules:
        return cls(
            task_classes=settings.task.classes,
            root_causes=settings.labels.root_causes,
            max_id_length=settings.ingest.max_id_length,
            clock_skew_s=settings.contracts.clock_skew_s,
        )

    # ---- the label alone ---------------------------------------------------------------------------

    def record_violation(self, label: Mapping[str, Any]) -> ContractViolation | None:
        problem: ContractViolation | None
        for field in ID_FIELDS:
            problem = id_problem(label[field], field=field, max_length=self.max_id_length)
            if problem is not None:
                return problem
        problem = annotator_problem(label["annotator_id"], max_length=self.max_id_length)
        if problem is not None:
            return problem
        value = label.get("value")
        if label["status"] == ANSWERED:
            if value is None:
                return ValueNotInClasses(f"a {ANSWERED} label needs a value")
            if self.task_classes and value not in self.task_classes:
                return ValueNotInClasses(
                    f"value {short(value)} is not one of the task's classes {list(self.task_classes)}"
                )
        elif value is not None:
            return UnexpectedValue(
                f"a {label['status']} label carries value {short(value)}; only {ANSWERED} labels answer"
            )
        started, submitted = to_ms(label["started_at"]), to_ms(label["submitted_at"])
        if submitted < started:
            return SubmittedBeforeStarted(
                f"submitted_at {iso(submitted)} is before started_at {iso(started)}"
            )
        cause = label.get("root_cause")
        if cause is not None and cause not in self.root_causes:
            return UnknownRootCause(
                f"root_cause {short(cause)} is not in the configured list {sorted(self.root_causes)} "
                "(ALSTREAM_LABELS__ROOT_CAUSES)"
            )
        return None

    # ---- against the assignment --------------------------------------------------------------------

    def classes_of(self, assignment: Mapping[str, Any]) -> Sequence[str]:
        """The assignment's classes if it carries them, else the task's."""
        return assignment.get("classes") or self.task_classes

    def assignment_violation(
        self, label: Mapping[str, Any], assignment: Mapping[str, Any] | None
    ) -> ContractViolation | None:
        if assignment is None:
            return UnknownAssignment(f"assignment {short(label['assignment_id'])} is unknown")
        if label["annotator_id"] != assignment["annotator_id"]:
            return WrongAnnotator(
                f"label by {short(label['annotator_id'])} but assignment "
                f"{short(assignment['assignment_id'])} belongs to {short(assignment['annotator_id'])}"
            )
        if label["item_id"] != assignment["item_id"]:
            return WrongItem(
                f"label for item {short(label['item_id'])} but assignment "
                f"{short(assignment['assignment_id'])} is for item {short(assignment['item_id'])}"
            )
        classes = self.classes_of(assignment)
        if label["status"] == ANSWERED and classes and label.get("value") not in classes:
            return ValueNotInClasses(
                f"value {short(label.get('value'))} is not one of the assignment's classes {list(classes)}"
            )
        started, submitted = to_ms(label["started_at"]), to_ms(label["submitted_at"])
        assigned, expires = to_ms(assignment["assigned_at"]), to_ms(assignment["lease_expires_at"])
        if started < assigned - self.skew_ms:
            return StartedBeforeAssigned(
                f"started_at {iso(started)} is before the assignment was made ({iso(assigned)}; "
                f"clock-skew allowance {self.skew_ms / SECOND_MS:g} s)"
            )
        if submitted > expires + self.skew_ms:
            return LateLabel(
                f"submitted_at {iso(submitted)} is after the lease expired ({iso(expires)}; clock-skew "
                f"allowance {self.skew_ms / SECOND_MS:g} s): the assignment was void and its item back in "
                "the pool"
            )
        return None

    # ---- both ----------------------------------------------------------------------------------------

    def verdict(
        self, label: Mapping[str, Any], assignment: Mapping[str, Any] | None
    ) -> ContractViolation | None:
        """The first rule ``label`` breaks (its own rules first, then its assignment's), or None."""
        return self.record_violation(label) or self.assignment_violation(label, assignment)

    def check(self, label: Mapping[str, Any], assignment: Mapping[str, Any] | None) -> None:
        """Like :meth:`verdict`, raising the violation."""
        violation = self.verdict(label, assignment)
        if violation is not None:
            raise violation
