"""An assignment made in the future of its reader's clock (beyond the skew allowance) or before 1970 is
impossible; without a clock (release compaction) only the lease's own order is judged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alstream.contracts.assignments import assignment_violation
from tests.support.records import assignment

NOW = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
SKEW_MS = 300_000


def test_assigned_in_the_far_future_is_impossible_for_a_reader_with_a_clock() -> None:
    record = assignment(assigned_at=datetime(9999, 1, 1, tzinfo=UTC))
    violation = assignment_violation(record, now_ms=NOW_MS, skew_ms=SKEW_MS)
    assert violation is not None and violation.reason == "ImpossibleTime"
    assert "assigned_at" in str(violation)
    assert assignment_violation(record) is None  # compaction: no clock, the lease's order holds


def test_assigned_within_the_skew_or_in_the_past_is_fine() -> None:
    for assigned in (NOW + timedelta(seconds=200), NOW - timedelta(days=30)):
        assert assignment_violation(assignment(assigned_at=assigned), now_ms=NOW_MS, skew_ms=SKEW_MS) is None


def test_assigned_before_1970_is_impossible() -> None:
    record = assignment(assigned_at=datetime(1960, 1, 1, tzinfo=UTC), lease_s=60)
    violation = assignment_violation(record, now_ms=NOW_MS, skew_ms=SKEW_MS)
    assert violation is not None and violation.reason == "ImpossibleTime"
