"""One router shard's state and its event handlers, pure: events in, table writes and assignments out
(plus what the operator sees: each READY's outcome with the reason it was not fully served, and
router-status records when an annotator's status changes; see :mod:`.reasons` and :mod:`.status`).

A shard is one partition index of the co-partitioned candidates / annotator-events / labels topics.
Items live in exactly one shard (their partition); annotation tools broadcast their annotator events to
every shard (the SDK does), and each shard applies ``1/shards`` of the per-annotator caps, so the global
caps hold however the shards are spread over workers.

Durability: every handler returns :class:`Effects` whose ``puts`` are written, in order, to one
changelog-backed table in the shard's partition *before* the assignments are produced. The order makes
any crash-prefix safe. For a hard item the annotator's rolling day is written first (a crash can only
over-count hard work); for other work the lease comes first (a crash can only under-count normal work).
The "seen" mark precedes the lease; open leases are re-sent on restore and return their item when they
expire; the pool update comes last, then (candidates only) the consumed offset. Replayed annotator
events are skipped by event_id, replayed labels find no lease.
"""

from __future__ import annotations

import heapq
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from alstream.agents.router import reasons
from alstream.agents.router.calibration import CalibrationBook, CalibrationRound
from alstream.agents.router.mix import MixPhase, MixPlan, RollingDay, plan, unit_fraction
from alstream.agents.router.pool import (
    AVAILABLE,
    FRESH,
    HARD,
    NEEDS_SKILLS,
    NORMAL,
    QA,
    RANDOM,
    REASON_OF_SOURCE,
    SEEN_ALL,
    SOURCE_OF_REASON,
    SOURCES,
    UNLIMITED,
    CandidatePool,
    PooledCandidate,
    Removed,
)
from alstream.agents.router.quotas import Quotas
from alstream.agents.router.status import ReadyOutcome, annotator_status, shard_status
from alstream.streams.partitioning import partition_for

KIND_OF_SOURCE = {HARD: "HARD", NORMAL: "NORMAL", FRESH: "NORMAL", RANDOM: "RANDOM", QA: "QA"}
OVERLAP_SOURCES = (HARD, NORMAL, FRESH)  # the fixed random slice and QA gold stay measurable as such
_ID_NAMESPACE = uuid.UUID("6f1d3c1e-4a53-4f57-9a57-2f1e0c7d9b11")
_RECENT_EVENTS = 64


def to_ms(value: datetime | int) -> int:
    return value if isinstance(value, int) else int(value.timestamp() * 1000)


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def week_start_ms(now_ms: int, *, weekday: int, hour: int) -> int:
    """The latest weekly reset point at or before ``now_ms`` (UTC)."""
    now = from_ms(now_ms)
    start = now.replace(hour=hour, minute=0, second=0, microsecond=0) - timedelta(
        days=(now.weekday() - weekday) % 7
    )
    if start > now:
        start -= timedelta(days=7)
    return to_ms(start)


def month_start_ms(now_ms: int) -> int:
    now = from_ms(now_ms)
    return to_ms(now.replace(day=1, hour=0, minute=0, second=0, microsecond=0))


@dataclass
class Lease:
    assignment_id: str
    annotator_id: str
    item_id: str
    kind: str
    assigned_ms: int
    expires_ms: int
    candidate: list[Any] | None  # snapshot to return to the pool; None for calibration work

    def to_record(self) -> list[Any]:
        return [
            self.assignment_id,
            self.annotator_id,
            self.item_id,
            self.kind,
            self.assigned_ms,
            self.expires_ms,
            self.candidate,
        ]

    @classmethod
    def from_record(cls, record: list[Any]) -> Lease:
        return cls(*record)


@dataclass
class AnnotatorState:
    annotator_id: str
    online: bool = True
    skills: frozenset[str] = frozenset()
    group: str | None = None
    day: RollingDay = field(default_factory=RollingDay)
    week_start_ms: int = 0
    week_counts: dict[str, int] = field(default_factory=dict)
    recent_events: deque[str] = field(default_factory=lambda: deque(maxlen=_RECENT_EVENTS))
    # Derived on restore, not persisted on their own:
    in_flight: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    # In memory only (informational; rebuilt by the next READY after a restart):
    last_ready: ReadyOutcome | None = None  # how this shard answered the annotator's latest READY
    published: tuple[Any, ...] | None = None  # what the router-status topic last heard about them

    def to_record(self) -> dict[str, Any]:
        return {
            "online": self.online,
            "skills": sorted(self.skills),
            "group": self.group,
            "day": self.day.to_record(),
            "week_start_ms": self.week_start_ms,
            "week_counts": self.week_counts,
            "recent_events": list(self.recent_events),
        }

    @classmethod
    def from_record(cls, annotator_id: str, record: dict[str, Any]) -> AnnotatorState:
        return cls(
            annotator_id=annotator_id,
            online=record["online"],
            skills=frozenset(record["skills"]),
            group=record["group"],
            day=RollingDay.from_record(record["day"]),
            week_start_ms=record["week_start_ms"],
            week_counts=dict(record["week_counts"]),
            recent_events=deque(record["recent_events"], maxlen=_RECENT_EVENTS),
        )


@dataclass
class Effects:
    """What a handler decided: table writes (value None deletes), assignments to produce, and counts."""

    puts: list[tuple[str, Any]] = field(default_factory=list)
    assignments: list[dict[str, Any]] = field(default_factory=list)
    expired: int = 0
    removed: list[Removed] = field(default_factory=list)
    completed: int = 0
    ignored: str | None = None  # why an event changed nothing (duplicate, unknown lease, ...)
    ready: ReadyOutcome | None = None  # a READY's outcome: what was asked, given, and why not more
    status: list[dict[str, Any]] = field(default_factory=list)  # router-status records to publish
    calibration_refused: list[str] = field(default_factory=list)  # reasons.CALIBRATION_REFUSALS, one each

    def extend(self, other: Effects) -> None:
        self.puts.extend(other.puts)
        self.assignments.extend(other.assignments)
        self.expired += other.expired
        self.removed.extend(other.removed)
        self.completed += other.completed
        self.status.extend(other.status)
        self.calibration_refused.extend(other.calibration_refused)


class RouterShard:
    """Pool, annotators and leases of one shard."""

    def __init__(
        self,
        *,
        shard: int,
        shards: int,
        quotas: Quotas,
        classes: list[str],
        pool_max: int = 1_000_000,
        max_age_ms: int = 7 * 24 * 3600 * 1000,
        fresh_max: int = 500,
        calibration: CalibrationBook | None = None,
    ) -> None:
        self.shard = shard
        self.shards = shards
        self.quotas = quotas
        # Each shard enforces its share of the per-annotator caps; shares add up to at most the caps.
        self.shard_quotas = quotas.model_copy(
            update={
                "max_hard_per_day": quotas.max_hard_per_day // shards,
                "max_in_flight": max(1, quotas.max_in_flight // shards),
            }
        )
        self.classes = list(classes)
        self.pool = CandidatePool(max_size=pool_max, max_age_ms=max_age_ms, fresh_max=fresh_max)
        self.annotators: dict[str, AnnotatorState] = {}
        self.leases: dict[str, Lease] = {}
        self.calibration = calibration
        self.offsets: dict[str, int] = {}
        self._expiry: list[tuple[int, str]] = []
        self._phases: dict[str, MixPhase] = {}
        # (calibration_id, item_id) -> None if this shard assigns the item, else why it refuses it.
        self._calibration_verdicts: dict[tuple[str, str], str | None] = {}

    # ---- keys of the shard's records in the changelog-backed table -------------------------------
    def _wrap(self, value: Any) -> Any:
        return None if value is None else [self.shard, value]

    def _put_annotator(self, effects: Effects, state: AnnotatorState) -> None:
        effects.puts.append((f"a|{self.shard}|{state.annotator_id}", self._wrap(state.to_record())))

    def _put_pool(self, effects: Effects, item_id: str) -> None:
        entry = self.pool.get(item_id)
        effects.puts.append((f"c|{self.shard}|{item_id}", self._wrap(entry.to_record() if entry else None)))

    def _put_removed(self, effects: Effects, removed: list[Removed]) -> None:
        for gone in removed:
            effects.puts.append((f"c|{self.shard}|{gone.item_id}", None))
        effects.removed.extend(removed)

    # ---- replay protection ----------------------------------------------------------------------
    # Annotator events are deduplicated by event_id (kept in the annotator's record) and labels by their
    # lease, so only candidates need an offset marker: a replayed candidate whose item was assigned since
    # would otherwise re-enter the pool. One changelog write less per READY.
    MARKED_TOPICS = frozenset({"candidates"})

    def already_applied(self, topic: str, offset: int) -> bool:
        return offset <= self.offsets.get(topic, -1)

    def mark_applied(self, effects: Effects, topic: str, offset: int) -> None:
        if topic not in self.MARKED_TOPICS:
            return
        self.offsets[topic] = offset
        effects.puts.append((f"o|{self.shard}|{topic}", [self.shard, [topic, offset]]))

    # ---- restore ---------------------------------------------------------------------------------
    def restore(self, records: Iterable[tuple[str, Any]]) -> None:
        """Rebuild from this shard's table records (values are ``[shard, payload]``)."""
        seen: list[dict[str, str]] = []
        for key, wrapped in records:
            kind, _, name = key.partition("|")
            payload = wrapped[1]
            if kind == "c":
                self.pool.add(PooledCandidate.from_record(payload), now_ms=0)
            elif kind == "a":
                annotator_id = name.partition("|")[2]  # annotators are in every shard: keys carry the shard
                self.annotators[annotator_id] = AnnotatorState.from_record(annotator_id, payload)
            elif kind == "l":
                lease = Lease.from_record(payload)
                self.leases[lease.assignment_id] = lease
            elif kind == "s":
                seen.append(payload)
            elif kind == "o":
                topic, offset = payload
                self.offsets[topic] = offset
        for mark in seen:
            self._annotator(mark["a"]).seen.add(mark["i"])
        for lease in self.leases.values():
            state = self._annotator(lease.annotator_id)
            state.in_flight.add(lease.assignment_id)
            state.seen.add(self._seen_token(lease))
            heapq.heappush(self._expiry, (lease.expires_ms, lease.assignment_id))

    def open_assignments(self) -> list[dict[str, Any]]:
        """Assignment records of every open lease, re-sent after a restore (tools dedupe by assignment_id).

        A crash between writing a lease and producing its assignment would otherwise leave the annotator's
        in-flight slot and quota use without the work.
        """
        records = []
        for lease in sorted(self.leases.values(), key=lambda lease: lease.assigned_ms):
            candidate = PooledCandidate.from_record(lease.candidate) if lease.candidate is not None else None
            overlap = f"ovl-{lease.item_id}" if lease.kind == "OVERLAP" else None
            record = self._assignment(lease, candidate, overlap_group=overlap)
            if lease.kind == "CALIBRATION":
                record["calibration_id"] = lease.assignment_id.split("/")[0]
            records.append(record)
        return records

    # ---- handlers --------------------------------------------------------------------------------
    def handle_candidate(self, record: dict[str, Any], *, now_ms: int) -> Effects:
        effects = Effects()
        self._housekeeping(effects, now_ms)
        source = SOURCE_OF_REASON[record["reason"]]
        item_id = record["item_id"]
        overlap_k = (
            self.quotas.overlap_k
            if source in OVERLAP_SOURCES
            and unit_fraction(f"overlap/{item_id}") < self.quotas.overlap_fraction
            else 0
        )
        if item_id in self.pool:
            effects.ignored = "already pooled"
            return effects
        candidate = PooledCandidate(
            item_id=item_id,
            source=source,
            score=float(record["score"]),
            selected_at_ms=to_ms(record["selected_at"]),
            skills=frozenset(record.get("skills") or ()),
            copies_left=UNLIMITED if source == QA else (overlap_k or 1),
            overlap_k=overlap_k,
            uri=record.get("uri"),
            unit_of_work=record.get("unit_of_work") or "ITEM",
            policy_version=record.get("policy_version") or "",
            model_version=record.get("model_version") or "",
            predicted_class=record.get("predicted_class"),
        )
        self._put_removed(effects, self.pool.add(candidate, now_ms=now_ms))
        if item_id in self.pool:
            self._put_pool(effects, item_id)
        return effects

    def handle_annotator_event(self, record: dict[str, Any], *, now_ms: int) -> Effects:
        effects = Effects()
        self._housekeeping(effects, now_ms)
        state = self._annotator(record["annotator_id"])
        if record["event_id"] in state.recent_events:
            effects.ignored = "duplicate event"
            return effects
        state.recent_events.append(record["event_id"])
        event_type = record["event_type"]
        if event_type in ("ONLINE", "SKILLS"):
            state.online = True
            state.skills = frozenset(record.get("skills") or ())
            if record.get("group") is not None:
                state.group = record["group"]
            self._put_annotator(effects, state)
        elif event_type == "OFFLINE":
            state.online = False
            self._put_annotator(effects, state)
            for assignment_id in sorted(state.in_flight):  # unlabeled work goes back to the pool now
                self._return(effects, self.leases[assignment_id])
        elif event_type == "READY":
            state.online = True
            self._assign(
                effects,
                state,
                max(0, min(100, int(record.get("ready_for") or 0))),
                now_ms,
                record["event_id"],
            )
            if not effects.assignments:
                self._put_annotator(effects, state)  # else already written with the assignments
        self._publish_status(effects, state, now_ms)
        return effects

    def handle_label(self, record: dict[str, Any], *, now_ms: int) -> Effects:
        effects = Effects()
        self._housekeeping(effects, now_ms)
        lease = self.leases.get(record["assignment_id"])
        if lease is None or lease.annotator_id != record["annotator_id"]:
            effects.ignored = "no open lease"  # expired, already labeled, or not this shard's
            return effects
        del self.leases[lease.assignment_id]
        self._annotator(lease.annotator_id).in_flight.discard(lease.assignment_id)
        effects.puts.append((f"l|{lease.assignment_id}", None))
        effects.completed += 1
        return effects

    def expire(self, *, now_ms: int) -> Effects:
        effects = Effects()
        self._housekeeping(effects, now_ms)
        return effects

    def summary(self, *, now_ms: int) -> dict[str, Any]:
        """The shard's router-status summary: pool depth by candidate reason, presence, open leases."""
        return shard_status(
            shard=self.shard,
            pool_depth={REASON_OF_SOURCE[source]: n for source, n in self.pool.depth().items()},
            annotators_online=sum(1 for state in self.annotators.values() if state.online),
            open_leases=len(self.leases),
            now_ms=now_ms,
        )

    def hard_quota_used(self, annotator_id: str, *, now_ms: int) -> bool:
        """Has the annotator used this shard's share of max_hard_per_day in the rolling day?"""
        state = self.annotators.get(annotator_id)
        hard = 0 if state is None else state.day.counts(now_ms).hard
        return hard >= self.shard_quotas.max_hard_per_day

    # ---- internals -------------------------------------------------------------------------------
    def _annotator(self, annotator_id: str) -> AnnotatorState:
        state = self.annotators.get(annotator_id)
        if state is None:
            state = self.annotators[annotator_id] = AnnotatorState(annotator_id=annotator_id)
        return state

    def _housekeeping(self, effects: Effects, now_ms: int) -> None:
        while self._expiry and self._expiry[0][0] <= now_ms:
            _, assignment_id = heapq.heappop(self._expiry)
            lease = self.leases.get(assignment_id)
            if lease is not None and lease.expires_ms <= now_ms:
                self._return(effects, lease)
                effects.expired += 1
        self._put_removed(effects, self.pool.age_out(now_ms=now_ms, month_start_ms=month_start_ms(now_ms)))

    def _return(self, effects: Effects, lease: Lease) -> None:
        """Void a lease; its item goes back to the pool (the annotator keeps it in ``seen``)."""
        if lease.candidate is not None:
            entry = self.pool.get(lease.item_id)
            if entry is None:
                candidate = PooledCandidate.from_record(lease.candidate)
                candidate.copies_left = UNLIMITED if candidate.source == QA else 1
                self._put_removed(effects, self.pool.add(candidate, now_ms=0))
            elif entry.copies_left != UNLIMITED:
                entry.copies_left = min(entry.copies_left + 1, max(1, entry.overlap_k))
            self._put_pool(effects, lease.item_id)
        del self.leases[lease.assignment_id]
        self._annotator(lease.annotator_id).in_flight.discard(lease.assignment_id)
        effects.puts.append((f"l|{lease.assignment_id}", None))

    @staticmethod
    def _seen_token(lease: Lease) -> str:
        if lease.kind == "CALIBRATION":
            return f"{lease.item_id}\x1fcal\x1f{lease.assignment_id.split('/')[0]}"
        return lease.item_id

    def _assign(
        self, effects: Effects, state: AnnotatorState, asked: int, now_ms: int, event_id: str
    ) -> None:
        quotas = self.shard_quotas
        room = quotas.max_in_flight - len(state.in_flight)
        wanted = min(asked, room)
        made = 0
        why_not: str | None = None
        if self.calibration is not None and wanted > 0:
            made += self._assign_calibration(
                effects, state, min(wanted, quotas.calibration_per_ready), now_ms, event_id
            )
        phase = self._phase(state.annotator_id)
        while made < wanted:
            mix = plan(state.day.counts(now_ms), quotas, phase)
            candidate = None
            for source in mix.order:
                candidate = self.pool.take(source, skills=state.skills, excluded=state.seen.__contains__)
                if candidate is not None:
                    break
            if candidate is None:
                why_not = self._why_nothing(state, mix)
                break
            kind = "OVERLAP" if candidate.overlap_k else KIND_OF_SOURCE[candidate.source]
            snapshot = candidate.to_record()
            # Crash-prefix safety: a hard item is counted before its lease exists (a crash can only
            # over-count hard work); any other item's lease comes first (a crash can only under-count
            # normal work), and open leases are re-sent on restore, so a counted lease is always delivered.
            if candidate.is_hard:
                self._record(effects, state, now_ms, source=candidate.source, kind=kind)
            lease = self._lease(effects, state, event_id, made, candidate.item_id, kind, now_ms, snapshot)
            if not candidate.is_hard:
                self._record(effects, state, now_ms, source=candidate.source, kind=kind)
            effects.assignments.append(
                self._assignment(
                    lease, candidate, overlap_group=f"ovl-{candidate.item_id}" if kind == "OVERLAP" else None
                )
            )
            self._put_pool(effects, candidate.item_id)
            made += 1
        if made < asked and why_not is None:
            why_not = reasons.IN_FLIGHT_CAP  # every free slot was filled: the annotator is busy
        state.last_ready = effects.ready = ReadyOutcome(
            at_ms=now_ms,
            wanted=asked,
            given=made,
            reason=why_not if made < asked else None,
            in_flight=len(state.in_flight),
        )

    def _phase(self, annotator_id: str) -> MixPhase:
        phase = self._phases.get(annotator_id)
        if phase is None:
            phase = MixPhase.of(annotator_id, shard=self.shard, shards=self.shards)
            self._phases[annotator_id] = phase
        return phase

    def _why_nothing(self, state: AnnotatorState, mix: MixPlan) -> str:
        """Why no source of the mix gave the annotator anything (see :mod:`.reasons` for the order)."""
        supply = {
            source: self.pool.supply(source, skills=state.skills, excluded=state.seen.__contains__)
            for source in SOURCES
        }
        held_back = {mix.blocked[s] for s, what in supply.items() if what == AVAILABLE and s in mix.blocked}
        for rule in reasons.RULE_PRIORITY:
            if rule in held_back:
                return rule
        if NEEDS_SKILLS in supply.values():
            return reasons.SKILLS
        if SEEN_ALL in supply.values():
            return reasons.ALREADY_SEEN
        return reasons.EMPTY_POOL

    def _publish_status(self, effects: Effects, state: AnnotatorState, now_ms: int) -> None:
        """A router-status record when what the labeling lead would see about the annotator changed."""
        outcome = state.last_ready
        view = (
            state.online,
            None if outcome is None else (outcome.given > 0, outcome.reason, outcome.in_flight > 0),
        )
        if view != state.published:
            state.published = view
            effects.status.append(
                annotator_status(
                    shard=self.shard,
                    state=state,
                    hard_in_day=state.day.counts(now_ms).hard,
                    hard_cap=self.shard_quotas.max_hard_per_day,
                    now_ms=now_ms,
                )
            )

    def _assign_calibration(
        self, effects: Effects, state: AnnotatorState, limit: int, now_ms: int, event_id: str
    ) -> int:
        assert self.calibration is not None
        made = 0
        for round_ in self.calibration.rounds_for(state.annotator_id, now_ms=now_ms):
            for item_id, _predicted in round_.items:
                if made >= limit:
                    return made
                token = f"{item_id}\x1fcal\x1f{round_.calibration_id}"
                if token in state.seen or not self._owns_calibration_item(item_id):
                    continue
                if self._calibration_refusal(effects, round_, item_id) is not None:
                    continue
                self._record(effects, state, now_ms, source=None, kind="CALIBRATION")
                lease = self._lease(
                    effects,
                    state,
                    event_id,
                    made,
                    item_id,
                    "CALIBRATION",
                    now_ms,
                    None,
                    calibration_id=round_.calibration_id,
                )
                record = self._assignment(lease, None, overlap_group=None)
                record["calibration_id"] = round_.calibration_id
                effects.assignments.append(record)
                made += 1
        return made

    def _owns_calibration_item(self, item_id: str) -> bool:
        """The shard of the item's partition assigns it: the one that pooled the item, and the one its
        labels reach (labels are keyed by item id), so a calibration label finds its lease."""
        return partition_for(item_id, self.shards) == self.shard

    def _calibration_refusal(self, effects: Effects, round_: CalibrationRound, item_id: str) -> str | None:
        """None if the shard vouches for the item, else why not (counted once per round, item and start).

        An item exists for the router when the shard that owns its partition pooled it (it is in the pool)
        or assigned it (some annotator's "seen" set holds it, kept in the table across restarts). The
        agreement agent only names overlapped items, which were assigned by exactly that shard; a round
        naming anything else is refused rather than sending annotators ids nobody can show them.
        """
        key = (round_.calibration_id, item_id)
        if key in self._calibration_verdicts:
            return self._calibration_verdicts[key]
        known = item_id in self.pool or any(item_id in other.seen for other in self.annotators.values())
        verdict = None if known else reasons.UNKNOWN_ITEM
        self._calibration_verdicts[key] = verdict
        if verdict is not None:
            effects.calibration_refused.append(verdict)
        return verdict

    def _record(
        self, effects: Effects, state: AnnotatorState, now_ms: int, *, source: str | None, kind: str
    ) -> None:
        if source is not None:
            state.day.add(now_ms, source)
        week = week_start_ms(
            now_ms, weekday=self.quotas.weekly_reset_weekday, hour=self.quotas.weekly_reset_hour
        )
        if week != state.week_start_ms:
            state.week_start_ms, state.week_counts = week, {}
        state.week_counts[kind] = state.week_counts.get(kind, 0) + 1
        self._put_annotator(effects, state)

    def _lease(
        self,
        effects: Effects,
        state: AnnotatorState,
        event_id: str,
        index: int,
        item_id: str,
        kind: str,
        now_ms: int,
        snapshot: list[Any] | None,
        calibration_id: str | None = None,
    ) -> Lease:
        # The item is part of the id: if a crash loses the state of a decision whose assignment already
        # went out, the replayed READY may pick another item, and it must not reuse that assignment's id.
        digest = uuid.uuid5(
            _ID_NAMESPACE, f"{self.shard}/{state.annotator_id}/{event_id}/{index}/{item_id}"
        ).hex
        assignment_id = f"{calibration_id}/{digest}" if calibration_id else digest
        if snapshot is not None:
            snapshot = list(snapshot)
            snapshot[5] = 1  # one copy returns if this lease expires
        lease = Lease(
            assignment_id,
            state.annotator_id,
            item_id,
            kind,
            now_ms,
            now_ms + int(self.quotas.lease_seconds * 1000),
            snapshot,
        )
        self.leases[assignment_id] = lease
        state.in_flight.add(assignment_id)
        token = self._seen_token(lease)
        state.seen.add(token)
        heapq.heappush(self._expiry, (lease.expires_ms, assignment_id))
        # "seen" before the lease: a restored lease re-adds its item to "seen" in memory only.
        effects.puts.append(
            (
                f"s|{self.shard}|{state.annotator_id}|{token}",
                self._wrap({"a": state.annotator_id, "i": token}),
            )
        )
        effects.puts.append((f"l|{assignment_id}", self._wrap(lease.to_record())))
        return lease

    def _assignment(
        self, lease: Lease, candidate: PooledCandidate | None, *, overlap_group: str | None
    ) -> dict[str, Any]:
        return {
            "assignment_id": lease.assignment_id,
            "annotator_id": lease.annotator_id,
            "item_id": lease.item_id,
            "kind": lease.kind,
            "classes": self.classes,
            "uri": candidate.uri if candidate else None,
            "unit_of_work": candidate.unit_of_work if candidate else "ITEM",
            "policy_version": candidate.policy_version if candidate else "calibration",
            "quota_version": self.quotas.version,
            "model_version": candidate.model_version if candidate else "",
            "overlap_group": overlap_group,
            "calibration_id": None,
            "assigned_at": from_ms(lease.assigned_ms),
            "lease_expires_at": from_ms(lease.expires_ms),
        }
