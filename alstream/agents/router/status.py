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

from alstream.agents.router.reasons import primary
from alstream.contracts.enums import ANNOTATOR_STATUS, SHARD_STATUS

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
        "kind": ANNOTATOR_STATUS,
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
        "kind": SHARD_STATUS,
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


# ---- reading the topic back: what `alstream status` shows ------------------------------------------
IDLE, BUSY, WORKING, OFFLINE, UNKNOWN = "idle", "busy", "working", "offline", "unknown"


@dataclass(frozen=True)
class AnnotatorView:
    """One annotator as the router's shards last described them (records of kind ANNOTATOR)."""

    annotator_id: str
    state: str  # idle / busy / working / offline / unknown (no READY since the router started)
    reason: str | None  # for idle and busy: the most actionable reason a shard gave
    reasons: dict[str, int]  # reason -> shards that gave it at the latest READY
    shards: int  # shards that wrote a record about the annotator
    given: int  # at the latest READY, summed over shards
    wanted: int
    in_flight: int
    hard_in_day: int
    hard_cap: int
    last_ready_at: datetime | None
    updated_at: datetime


def annotator_views(records: list[dict[str, Any]]) -> list[AnnotatorView]:
    """Fold the latest ANNOTATOR record of every (shard, annotator) into one view per annotator."""
    by_annotator: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if record["kind"] == ANNOTATOR_STATUS and record["annotator_id"] is not None:
            by_annotator.setdefault(record["annotator_id"], []).append(record)
    views = []
    for annotator_id, mine in sorted(by_annotator.items()):
        answered = [r for r in mine if r["last_ready_at"] is not None]
        reasons: dict[str, int] = {}
        for record in answered:
            if record["reason"] is not None:
                reasons[record["reason"]] = reasons.get(record["reason"], 0) + 1
        given = sum(r["given"] or 0 for r in answered)
        in_flight = sum(r["in_flight"] or 0 for r in mine)
        if not any(r["online"] for r in mine):
            state = OFFLINE
        elif not answered:
            state = UNKNOWN
        elif given == 0 and in_flight == 0:
            state = IDLE
        elif given == 0:
            state = BUSY
        else:
            state = WORKING
        views.append(
            AnnotatorView(
                annotator_id=annotator_id,
                state=state,
                reason=primary(set(reasons)) if state in (IDLE, BUSY) else None,
                reasons=reasons,
                shards=len(mine),
                given=given,
                wanted=sum(r["wanted"] or 0 for r in answered),
                in_flight=in_flight,
                hard_in_day=sum(r["hard_in_day"] or 0 for r in mine),
                hard_cap=sum(r["hard_cap"] or 0 for r in mine),
                last_ready_at=max((r["last_ready_at"] for r in answered), default=None),
                updated_at=max(r["updated_at"] for r in mine),
            )
        )
    return views


@dataclass(frozen=True)
class PoolView:
    """The shards' latest summaries (records of kind SHARD)."""

    depth: dict[str, int]  # candidate reason -> pooled, summed over shards
    shards: list[int]  # shards that wrote a summary
    open_leases: int
    oldest_update: datetime | None  # the stalest summary: a router that stopped writing shows here


def pool_view(records: list[dict[str, Any]]) -> PoolView:
    summaries = [r for r in records if r["kind"] == SHARD_STATUS]
    depth: dict[str, int] = {}
    for record in summaries:
        for reason, count in (record["pool_depth"] or {}).items():
            depth[reason] = depth.get(reason, 0) + count
    return PoolView(
        depth=depth,
        shards=sorted(r["shard"] for r in summaries),
        open_leases=sum(r["open_leases"] or 0 for r in summaries),
        oldest_update=min((r["updated_at"] for r in summaries), default=None),
    )
