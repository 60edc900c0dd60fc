"""Assignment rules: what the router never produces and every reader of assignments treats as absent.

In order: ``InvalidId`` (``assignment_id``, ``annotator_id`` or ``item_id`` empty or too long),
``ReservedAnnotator``, ``ImpossibleTime`` (a lease that expires before, or when, it is assigned; and,
for a reader that gives its clock, an assignment made before 1970 or further ahead of that clock than
the clock-skew allowance: the router stamps ``assigned_at`` with its own clock when it assigns).
The labels agent dead-letters such an assignment, the agreement agent does not index it and release
compaction ignores it (a label citing it is ``UnknownAssignment``); the annotation SDK never hands it
to a tool.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alstream.contracts.exceptions import ContractViolation, ImpossibleTime, InvalidId, ReservedAnnotator
from alstream.contracts.ids import DEFAULT_MAX_ID_LENGTH, annotator_problem, id_problem
from alstream.contracts.times import impossible, iso, to_ms

REASONS = tuple(v.__name__ for v in (InvalidId, ReservedAnnotator, ImpossibleTime))


def assignment_violation(
    assignment: Mapping[str, Any],
    *,
    max_id_length: int = DEFAULT_MAX_ID_LENGTH,
    now_ms: int | None = None,
    skew_ms: int = 0,
) -> ContractViolation | None:
    """The first rule ``assignment`` breaks, or None. With ``now_ms`` (the reader's clock) an
    ``assigned_at`` before 1970 or more than ``skew_ms`` ahead of it is impossible too; release
    compaction leaves it out, so the same cut-off gives the same bytes whenever it runs."""
    problem: ContractViolation | None
    for field in ("assignment_id", "item_id"):
        problem = id_problem(assignment[field], field=field, max_length=max_id_length)
        if problem is not None:
            return problem
    problem = annotator_problem(assignment["annotator_id"], max_length=max_id_length)
    if problem is not None:
        return problem
    assigned, expires = to_ms(assignment["assigned_at"]), to_ms(assignment["lease_expires_at"])
    if expires <= assigned:
        return ImpossibleTime(f"lease_expires_at {iso(expires)} is not after assigned_at {iso(assigned)}")
    if now_ms is not None:
        return impossible("assigned_at", assigned, now_ms=now_ms, skew_ms=skew_ms)
    return None
