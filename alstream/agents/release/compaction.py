"""Labels to one consolidated label per item: validate, de-duplicate, majority-vote, flag.

* a label counts only if the label contract accepts it (:class:`alstream.contracts.labels.LabelRules`,
  the verdict the labels agent, the agreement agent and the router reach too); refused labels are
  counted in ``excluded`` under the contract's reason (``UnknownRootCause``, ``LateLabel``, ...), and
  assignments the assignment contract refuses are ignored (labels citing them: ``UnknownAssignment``);
* only ``LABELED`` answers vote; valid SKIPPED / CANNOT_LABEL labels are counted as excluded
  (``status_skipped``, ``status_cannot_label``);
* a repeated ``label_id`` is ignored (at-least-once delivery); an annotator who answered the same
  item twice counts once, with their latest answer;
* the majority value wins; a tie, or a majority share below ``min_agreement``, is flagged for
  adjudication (a tie leaves the label empty, so it never trains).

Everything is ordered by ids, so the same inputs give the same rows whatever their arrival order.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alstream.agents.labels.config import DEFAULT_ROOT_CAUSES
from alstream.contracts.assignments import assignment_violation
from alstream.contracts.enums import ANSWERED
from alstream.contracts.labels import LabelRules

SECONDARY_KINDS = ("OVERLAP", "CALIBRATION")  # copies of an item someone else was given first


@dataclass(frozen=True)
class ValidLabel:
    label_id: str
    item_id: str
    annotator_id: str
    value: str
    kind: str
    policy_version: str
    model_version: str
    assigned_at: datetime
    submitted_at: datetime
    root_cause: str | None


@dataclass(frozen=True)
class ConsolidatedItem:
    item_id: str
    label: str | None
    votes: dict[str, int]
    n_labels: int
    majority_share: float
    needs_adjudication: bool
    adjudication_reason: str | None
    kind: str
    policy_version: str
    model_version: str
    first_submitted_at: datetime
    last_submitted_at: datetime


@dataclass
class Compaction:
    items: list[ConsolidatedItem]
    labels: list[ValidLabel]
    excluded: dict[str, int] = field(default_factory=dict)
    accepted_ids: frozenset[str] = frozenset()  # every label the contract accepted, answers or not


@dataclass(frozen=True)
class LabelVerdicts:
    labels: list[ValidLabel]  # the answers that vote: one per (item, annotator), the latest
    excluded: dict[str, int]  # label counts by why they do not vote
    accepted_ids: frozenset[str]


def default_rules(classes: Sequence[str] = ()) -> LabelRules:
    """The label contract with default settings (callers with settings pass ``LabelRules.from_settings``)."""
    return LabelRules(task_classes=classes, root_causes=DEFAULT_ROOT_CAUSES)


def valid_labels(
    labels: Iterable[Mapping[str, Any]],
    assignments: Iterable[Mapping[str, Any]],
    *,
    rules: LabelRules,
) -> LabelVerdicts:
    """The labels that count, one per (item, annotator), and excluded counts by reason."""
    by_assignment = {
        a["assignment_id"]: a
        for a in assignments
        if assignment_violation(a, max_id_length=rules.max_id_length) is None
    }
    excluded: Counter[str] = Counter()
    seen_ids: set[str] = set()
    accepted: set[str] = set()
    latest: dict[tuple[str, str], ValidLabel] = {}
    for label in sorted(labels, key=lambda r: (r["submitted_at"], r["label_id"])):
        if label["label_id"] in seen_ids:
            excluded["duplicate"] += 1
            continue
        seen_ids.add(label["label_id"])
        assignment = by_assignment.get(label["assignment_id"])
        violation = rules.verdict(label, assignment)
        if violation is not None:
            excluded[violation.reason] += 1
            continue
        assert assignment is not None
        accepted.add(label["label_id"])
        if label["status"] != ANSWERED:
            excluded[f"status_{str(label['status']).lower()}"] += 1
            continue
        key = (label["item_id"], label["annotator_id"])
        if key in latest:
            excluded["superseded"] += 1
        latest[key] = ValidLabel(
            label_id=label["label_id"],
            item_id=label["item_id"],
            annotator_id=label["annotator_id"],
            value=label["value"],
            kind=assignment["kind"],
            policy_version=assignment["policy_version"],
            model_version=assignment["model_version"],
            assigned_at=assignment["assigned_at"],
            submitted_at=label["submitted_at"],
            root_cause=label.get("root_cause"),
        )
    kept = sorted(latest.values(), key=lambda v: (v.item_id, v.annotator_id, v.label_id))
    return LabelVerdicts(
        labels=kept, excluded=dict(sorted(excluded.items())), accepted_ids=frozenset(accepted)
    )


def consolidate(labels: Sequence[ValidLabel], *, min_agreement: float) -> list[ConsolidatedItem]:
    """Majority vote per item; ties and weak majorities are flagged for adjudication."""
    grouped: dict[str, list[ValidLabel]] = defaultdict(list)
    for label in labels:
        grouped[label.item_id].append(label)
    items = []
    for item_id in sorted(grouped):
        votes_for = grouped[item_id]
        votes = Counter(v.value for v in votes_for)
        ranked = sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))
        top_value, top_count = ranked[0]
        tie = len(ranked) > 1 and ranked[1][1] == top_count
        share = top_count / len(votes_for)
        reason = "tie" if tie else ("low_agreement" if share < min_agreement else None)
        primary = min(votes_for, key=lambda v: (v.kind in SECONDARY_KINDS, v.assigned_at, v.label_id))
        items.append(
            ConsolidatedItem(
                item_id=item_id,
                label=None if tie else top_value,
                votes=dict(sorted(votes.items())),
                n_labels=len(votes_for),
                majority_share=share,
                needs_adjudication=reason is not None,
                adjudication_reason=reason,
                kind=primary.kind,
                policy_version=primary.policy_version,
                model_version=primary.model_version,
                first_submitted_at=min(v.submitted_at for v in votes_for),
                last_submitted_at=max(v.submitted_at for v in votes_for),
            )
        )
    return items


def compact(
    labels: Iterable[Mapping[str, Any]],
    assignments: Iterable[Mapping[str, Any]],
    *,
    rules: LabelRules | None = None,
    classes: Sequence[str] = (),
    min_agreement: float = 0.67,
) -> Compaction:
    """``rules`` defaults to the label contract with default settings and ``classes`` as the task's."""
    verdicts = valid_labels(labels, assignments, rules=rules or default_rules(classes))
    return Compaction(
        items=consolidate(verdicts.labels, min_agreement=min_agreement),
        labels=verdicts.labels,
        excluded=verdicts.excluded,
        accepted_ids=verdicts.accepted_ids,
    )
