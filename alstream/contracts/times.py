"""Time rules: what makes a time impossible, and the clock-skew allowance between machines.

A time is impossible when it lies before 1970 (Avro ``timestamp-millis`` counts from the epoch and
every schema documents times of events that happened, never before), or further in the future than
``contracts.clock_skew_s`` ahead of the clock of whoever checks it. Some record types also bound the
past (annotator events older than ``contracts.max_event_age_s``) or compare two times of their own
(a lease that ends before it starts). Times relative to another record (a label against its
assignment) live with that record type's rules, in :mod:`.labels`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from numpy.typing import NDArray

from alstream.contracts.exceptions import ImpossibleTime

SECOND_MS = 1000


def to_ms(value: datetime | int | float) -> int:
    """Epoch milliseconds of a decoded ``timestamp-millis`` (a datetime, or the raw number)."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    return int(value)


def iso(ms: int) -> str:
    """An epoch-milliseconds time for a message; never raises on a time no datetime can hold."""
    try:
        return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")
    except (OverflowError, OSError, ValueError):
        return f"{ms} ms since 1970"


def time_problem(
    field: str, ms: int, *, now_ms: int, skew_ms: int, max_age_ms: int | None = None
) -> str | None:
    """Why ``ms`` is impossible for ``field`` checked at ``now_ms``, or None when it is plausible."""
    if ms < 0:
        return f"{field} {iso(ms)} is before 1970"
    if ms > now_ms + skew_ms:
        return (
            f"{field} {iso(ms)} is {(ms - now_ms) / 1000:.0f} s ahead of this clock ({iso(now_ms)}); "
            f"the clock-skew allowance is {skew_ms / 1000:g} s"
        )
    if max_age_ms is not None and ms < now_ms - max_age_ms:
        return f"{field} {iso(ms)} is older than {max_age_ms / 1000:g} s"
    return None


def impossible(
    field: str, ms: int, *, now_ms: int, skew_ms: int, max_age_ms: int | None = None
) -> ImpossibleTime | None:
    problem = time_problem(field, ms, now_ms=now_ms, skew_ms=skew_ms, max_age_ms=max_age_ms)
    return None if problem is None else ImpossibleTime(problem)


def times_bad(ms: NDArray[Any], *, now_ms: int, skew_ms: int) -> NDArray[Any]:
    """Vectorised :func:`time_problem` without a past bound: before 1970 or beyond now + skew."""
    return (ms < 0) | (ms > now_ms + skew_ms)
