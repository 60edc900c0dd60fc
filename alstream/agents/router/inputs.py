"""What the router refuses before a record may change a shard: the contracts of its inputs.

Candidates, annotator events and labels are checked against :mod:`alstream.contracts`; a refused
record is dead-lettered (its reason the contract's) and never reaches :class:`RouterShard`. A label is
checked on its own and, when the shard holds the lease it answers, against that lease: a label the
labels agent refuses (a value outside the classes, submitted long after its lease, another
annotator's...) must never complete a lease, or its item would be neither labeled nor back in the pool.
A label whose lease this shard does not hold (expired, already labeled, another shard's) touches
nothing, so it is left to the labels agent, which knows every assignment.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alstream.agents.router.state import Lease, RouterShard
from alstream.contracts.annotator_events import AnnotatorEventRules
from alstream.contracts.candidates import CandidateRules
from alstream.contracts.exceptions import ContractViolation
from alstream.contracts.ids import ROUTER_TICK
from alstream.contracts.labels import LabelRules
from alstream.settings import AlstreamSettings


class InputContract:
    def __init__(
        self,
        *,
        candidates: CandidateRules,
        events: AnnotatorEventRules,
        labels: LabelRules,
        classes: Sequence[str],
    ) -> None:
        self.candidates = candidates
        self.events = events
        self.labels = labels
        self.classes = list(classes)

    @classmethod
    def from_settings(cls, settings: AlstreamSettings) -> InputContract:
        return cls(
            candidates=CandidateRules.from_settings(settings),
            events=AnnotatorEventRules.from_settings(settings),
            labels=LabelRules.from_settings(settings),
            classes=settings.task.classes,
        )

    def violation(
        self, shard: RouterShard, topic_key: str, record: dict[str, Any], *, now_ms: int
    ) -> ContractViolation | None:
        """The rule ``record`` (decoded, from ``topic_key``) breaks when read at ``now_ms``, or None."""
        if topic_key == "candidates":
            return self.candidates.verdict(record, now_ms=now_ms)
        if topic_key == "annotator-events":
            if record["annotator_id"] == ROUTER_TICK:  # the one reserved id in use: our own heartbeat
                return None
            return self.events.verdict(record, now_ms=now_ms)
        violation = self.labels.record_violation(record)
        if violation is not None:
            return violation
        lease = shard.leases.get(record["assignment_id"])
        if lease is None:
            return None
        return self.labels.assignment_violation(record, self.as_assignment(lease))

    def as_assignment(self, lease: Lease) -> dict[str, Any]:
        """The fields of the assignment a lease stands for, as the label contract compares them."""
        return {
            "assignment_id": lease.assignment_id,
            "annotator_id": lease.annotator_id,
            "item_id": lease.item_id,
            "classes": self.classes,
            "assigned_at": lease.assigned_ms,
            "lease_expires_at": lease.expires_ms,
        }
