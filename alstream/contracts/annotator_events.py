"""Annotator event rules: what the annotation SDK never sends and the router refuses (dead letter).

In order: ``InvalidId`` (``event_id`` or ``annotator_id`` empty or too long), ``ReservedAnnotator``
(``annotator_id`` starts with ``__``; the router's own heartbeat ``__router_tick__`` is the one
record it handles under a reserved id, and only its own kind), ``OutOfRange`` (a READY whose
``ready_for`` is not 1-100), ``ImpossibleTime`` (``occurred_at`` before 1970, further ahead of the
router's clock than ``contracts.clock_skew_s``, or older than ``contracts.max_event_age_s``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from alstream.contracts.enums import READY
from alstream.contracts.exceptions import (
    ContractViolation,
    ImpossibleTime,
    InvalidId,
    OutOfRange,
    ReservedAnnotator,
)
from alstream.contracts.ids import DEFAULT_MAX_ID_LENGTH, annotator_problem, id_problem
from alstream.contracts.times import SECOND_MS, impossible, to_ms

if TYPE_CHECKING:
    from alstream.settings import AlstreamSettings

READY_RANGE = (1, 100)
REASONS = tuple(v.__name__ for v in (InvalidId, ReservedAnnotator, OutOfRange, ImpossibleTime))


def ready_for_problem(ready_for: Any) -> OutOfRange | None:
    low, high = READY_RANGE
    if isinstance(ready_for, bool) or not isinstance(ready_for, int) or not low <= ready_for <= high:
        return OutOfRange(f"ready_for must be between {low} and {high}, got {ready_for!r}")
    return None


class AnnotatorEventRules:
    def __init__(
        self,
        *,
        max_id_length: int = DEFAULT_MAX_ID_LENGTH,
        clock_skew_s: float = 300.0,
        max_event_age_s: float = 7 * 86_400.0,
    ) -> None:
        self.max_id_length = max_id_length
        self.skew_ms = int(clock_skew_s * SECOND_MS)
        self.max_age_ms = int(max_event_age_s * SECOND_MS)

    @classmethod
    def from_settings(cls, settings: AlstreamSettings) -> AnnotatorEventRules:
        return cls(
            max_id_length=settings.ingest.max_id_length,
            clock_skew_s=settings.contracts.clock_skew_s,
            max_event_age_s=settings.contracts.max_event_age_s,
        )

    def verdict(self, event: Mapping[str, Any], *, now_ms: int) -> ContractViolation | None:
        """The first rule ``event`` breaks when read at ``now_ms``, or None."""
        return (
            id_problem(event["event_id"], field="event_id", max_length=self.max_id_length)
            or annotator_problem(event["annotator_id"], max_length=self.max_id_length)
            or (ready_for_problem(event.get("ready_for")) if event["event_type"] == READY else None)
            or impossible(
                "occurred_at",
                to_ms(event["occurred_at"]),
                now_ms=now_ms,
                skew_ms=self.skew_ms,
                max_age_ms=self.max_age_ms,
            )
        )
