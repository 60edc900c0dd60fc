"""Status records the router publishes for `alstream status` (``schemas/router-status.avsc``), pure.

Why a compacted topic keyed per annotator and shard rather than metrics: the labeling lead asks "why does
ann-17 get no work?", which needs a per-annotator answer, and annotator ids must never become metric
labels. A shard writes an annotator's record only when what the lead would see changes (online, served
or not, the reason, busy or not), so thousands of annotators pressing READY cost almost no writes, and
compaction keeps one record per key. Any number of router workers write to it; a reader reads it to the
end and has every shard's latest view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alstream.agents.router.state import AnnotatorState


@dataclass(frozen=True)
class ReadyOutcome:
    """How one shard answered one READY: asked for, given, and why not more (None when fully served)."""

    at_ms: int
    wanted: int
    given: int
    reason: str | None
    in_flight: int  # open assignments from this shard afterwards

    @property
    def idle(self) -> bool:
        """Nothing given and nothing in hand from this shard."""
        return self.given == 0 and self.in_flight == 0


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def annotator_key(shard: int, annotator_id: str) -> str:
    return f"annotator/{shard}/{annotator_id}"


def shard_key(shard: int) -> str:
    return f"shard/{shard}"


def annotator_status(
    *, shard: int, state: AnnotatorState, hard_in_day: int, hard_cap: int, now_ms: int
) -> dict[str, Any]:
    outcome = state.last_ready
    return {
        "status_key": annotator_key(shard, state.annotator_id),
        "kind": "ANNOTATOR",
        "shard": shard,
        "updated_at": _at(now_ms),
        "annotator_id": state.annotator_id,
        "online": state.online,
        "last_ready_at": None if outcome is None else _at(outcome.at_ms),
        "wanted": None if outcome is None else outcome.wanted,
        "given": None if outcome is None else outcome.given,
        "reason": None if outcome is None else outcome.reason,
        "in_flight": len(state.in_flight),
        "hard_in_day": hard_in_day,
        "hard_cap": hard_cap,
        "pool_depth": None,
        "annotators_online": None,
        "open_leases": None,
    }


def shard_status(
    *, shard: int, pool_depth: dict[str, int], annotators_online: int, open_leases: int, now_ms: int
) -> dict[str, Any]:
    return {
        "status_key": shard_key(shard),
        "kind": "SHARD",
        "shard": shard,
        "updated_at": _at(now_ms),
        "annotator_id": None,
        "online": None,
        "last_ready_at": None,
        "wanted": None,
        "given": None,
        "reason": None,
        "in_flight": None,
        "hard_in_day": None,
        "hard_cap": None,
        "pool_depth": dict(pool_depth),
        "annotators_online": annotators_online,
        "open_leases": open_leases,
    }
