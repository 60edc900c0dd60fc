"""The router as a faust app: one agent over the co-partitioned candidates / annotator-events / labels
topics, its state in one changelog-backed table, assignments produced keyed by annotator_id.

Why one agent over three topics instead of three agents: all of a shard's state changes must land in
the shard's changelog partition in the order the decisions were made (see :mod:`.state`), and faust
writes a table change to the partition of the event being processed. Partition *p* of the three
topics is shard *p*; faust's assignor hands co-partitioned topics (same partition count) to the same
worker, so the router scales out to as many workers as there are partitions.
"""

from __future__ import annotations

import gc
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Message

from alstream.agents.router import metrics, reasons
from alstream.agents.router.calibration import CalibrationBook
from alstream.agents.router.exceptions import PartitionLayoutError
from alstream.agents.router.inputs import InputContract
from alstream.agents.router.pool import REASON_OF_SOURCE, SOURCE_OF_REASON
from alstream.agents.router.quotas import load_quotas
from alstream.agents.router.state import Effects, RouterShard, week_start_ms
from alstream.contracts.calibration import CalibrationRules
from alstream.contracts.ids import ROUTER_TICK as TICK_ANNOTATOR
from alstream.observability.metrics import AGENT_ERRORS, AGENT_LAST_PROGRESS
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import codec_for
from alstream.streams.faust_support import make_app, partition_counts
from alstream.streams.partitioning import partition_for
from alstream.streams.runtime import AgentRuntime

log = logging.getLogger(__name__)
AGENT = "router"
SHARD_TOPICS = ("candidates", "annotator-events", "labels")
STATUS_TOPIC = "router-status"
SHARD_STATUS_REFRESH_S = 60.0  # a shard summary is rewritten at least this often, so its age shows liveness


class RouterService:
    """Builds the faust app and holds the shards this worker owns; runs inside the agent runtime, which
    owns the worker, the calibration reader and the producer of dead letters."""

    def __init__(self, *, settings: AlstreamSettings, runtime: AgentRuntime) -> None:
        self.settings = settings
        self.runtime = runtime
        counts = partition_counts(
            settings,
            [*SHARD_TOPICS, "assignments", "calibration", STATUS_TOPIC],
            agent=AGENT,
            stop=runtime.stopping,
        )
        if len({counts[t] for t in SHARD_TOPICS}) != 1:
            raise PartitionLayoutError(
                "candidates, annotator-events and labels must have the same partition count (they are the "
                f"router's shards); found {', '.join(f'{t}={counts[t]}' for t in SHARD_TOPICS)}"
            )
        self.shard_count = counts["candidates"]
        self.assignment_partitions = counts["assignments"]
        self.status_partitions = counts[STATUS_TOPIC]
        self.quotas = load_quotas(settings.paths.quotas_file)
        self.classes = settings.task.require_classes()
        self.book = CalibrationBook(max_age_ms=int(settings.router.calibration_max_age_s * 1000))
        self.codecs = {
            t: codec_for(t, settings) for t in (*SHARD_TOPICS, "assignments", "calibration", STATUS_TOPIC)
        }
        self.inputs = InputContract.from_settings(settings)
        self.calibration_rules = CalibrationRules.from_settings(settings)
        self.shards: dict[int, RouterShard] = {}
        self._summaries: dict[int, tuple[tuple[Any, ...], float]] = {}  # shard -> (last published, when)
        self._prefix = settings.kafka.topic_prefix
        # Every worker reads all calibration rounds (one small partition) from the start, outside the
        # group; a round it cannot use is dead-lettered (and counted) by the runtime.
        runtime.follow([settings.kafka.topic("calibration")], self._add_round, what="calibration rounds")

        self.app = make_app(
            settings,
            name=settings.router.group_id,
            partitions=self.shard_count,
            state_dir=settings.paths.state_dir,
        )
        self.table = self.app.Table(
            "router-state",
            default=None,
            partitions=self.shard_count,  # keys and values are JSON
        )
        source = self.app.topic(
            *(settings.kafka.topic(t) for t in SHARD_TOPICS),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )
        self.assignments_topic = self.app.topic(
            settings.kafka.topic("assignments"),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )
        self.events_topic = self.app.topic(
            settings.kafka.topic("annotator-events"),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

        @self.app.agent(source, name=f"{settings.router.group_id}-route")
        async def route(stream: Any) -> None:
            async for event in stream.events():
                await self._handle(event)

        @self.app.timer(interval=settings.router.tick_interval_s)
        async def tick() -> None:
            """Heartbeat into every shard so leases expire on time even when a shard is quiet."""
            record = {
                "event_id": uuid.uuid4().hex,
                "annotator_id": TICK_ANNOTATOR,
                "event_type": "READY",
                "ready_for": 0,
                "skills": [],
                "group": None,
                "occurred_at": datetime.now(tz=UTC),
            }
            value = self.codecs["annotator-events"].encode(record)  # ticks skip the event-id dedupe
            for partition in range(self.shard_count):
                await self.events_topic.send(key=TICK_ANNOTATOR.encode(), partition=partition, value=value)
            self._update_gauges()
            self._publish_summaries()
            AGENT_LAST_PROGRESS.labels(AGENT).set(time.time())

        @self.app.on_partitions_revoked.connect  # type: ignore[arg-type]  # faust's stub wants a `signal` kwarg it passes
        async def on_revoked(app: Any, revoked: Any = None, **_: Any) -> None:
            self.shards.clear()  # rebuilt from the table (after faust's recovery) on the next event
            self._summaries.clear()

    # ---- event handling ---------------------------------------------------------------------------
    def _shard(self, partition: int) -> tuple[RouterShard, bool]:
        shard = self.shards.get(partition)
        if shard is not None:
            return shard, False
        router = self.settings.router
        shard = RouterShard(
            shard=partition,
            shards=self.shard_count,
            quotas=self.quotas,
            classes=self.classes,
            pool_max=router.pool_max_per_shard,
            max_age_ms=int(router.candidate_max_age_s * 1000),
            fresh_max=router.fresh_pool_max,
            calibration=self.book,
        )
        shard.restore((k, v) for k, v in list(self.table.items()) if v is not None and v[0] == partition)
        self.shards[partition] = shard
        gc.collect()
        gc.freeze()  # a restored pool can hold a million records: keep them out of every full GC
        self._publish_pool_depth()
        log.info(
            "router shard %d restored: %d pooled, %d annotators, %d open leases",
            partition,
            len(shard.pool),
            len(shard.annotators),
            len(shard.leases),
        )
        return shard, True

    async def _handle(self, event: Any) -> None:
        message = event.message
        base = message.topic[len(self._prefix) :]
        if log.isEnabledFor(logging.DEBUG):
            log.debug("event %s[%s]@%s", message.topic, message.partition, message.offset)
        shard, fresh = self._shard(message.partition)
        if fresh:
            await self._send(shard.open_assignments(), resent=True)  # tools dedupe by assignment_id
        if shard.already_applied(base, message.offset):
            return
        now_ms = int(time.time() * 1000)
        record: dict[str, Any] | None
        try:
            decoded = self.codecs[base].decode(event.value)
        except Exception as exc:  # noqa: BLE001 - every undecodable record is dead-lettered, never dropped
            self._dead_letter(event, exc)
            record = None
            effects = Effects()
        else:
            record = decoded
            try:
                violation = self.inputs.violation(shard, base, decoded, now_ms=now_ms)
                if violation is not None:  # refused: it never touches the shard (no lease, no pool)
                    self._dead_letter(event, violation)
                    if base == "labels":
                        metrics.LABELS_MATCHED.labels("refused").inc()
                    effects, record = Effects(), None
                else:
                    effects = self._apply(shard, base, decoded, now_ms)
            except Exception as exc:  # noqa: BLE001 - the poison-pill rule: a record the router cannot use
                log.warning(
                    "router cannot use %s@%s:%s: %r", message.topic, message.partition, message.offset, exc
                )
                self._dead_letter(event, exc)
                AGENT_ERRORS.labels(AGENT, type(exc).__name__).inc()
                effects, record = Effects(), None
                self.shards.pop(message.partition, None)  # memory may be half-changed: rebuild from the table
                shard, _ = self._shard(message.partition)
        shard.mark_applied(effects, base, message.offset)
        for key, value in effects.puts:
            if value is None:
                if key in self.table:
                    del self.table[key]
            else:
                self.table[key] = value
        await self._send(effects.assignments)
        self._count(effects, base, record if base == "annotator-events" else None)
        AGENT_LAST_PROGRESS.labels(AGENT).set(time.time())

    def _dead_letter(self, event: Any, error: BaseException) -> None:
        message = event.message
        self.runtime.dead_letters.send(
            key=message.key,
            value=event.value,
            source_topic=message.topic,
            error=error,
            partition=message.partition,
            offset=message.offset,
            headers=getattr(message, "headers", None),  # kept for replay, as Kafka Connect's DLQ does
        )
        self.runtime.producer.poll(0)

    def _apply(self, shard: RouterShard, base: str, record: dict[str, Any], now_ms: int) -> Effects:
        if base == "candidates":
            return shard.handle_candidate(record, now_ms=now_ms)
        if base == "labels":
            effects = shard.handle_label(record, now_ms=now_ms)
            metrics.LABELS_MATCHED.labels("completed" if effects.completed else "ignored").inc()
            return effects
        if record["annotator_id"] == TICK_ANNOTATOR:
            return shard.expire(now_ms=now_ms)
        effects = shard.handle_annotator_event(record, now_ms=now_ms)
        if record["event_type"] == "READY":
            state = shard.annotators.get(record["annotator_id"])
            if state is not None:
                counts = state.day.counts(now_ms)
                if counts.total:
                    metrics.HARD_SHARE.observe(counts.hard / counts.total)
                if shard.shard_quotas.max_hard_per_day:
                    metrics.HARD_QUOTA_USE.observe(
                        min(1.0, counts.hard / shard.shard_quotas.max_hard_per_day)
                    )
        return effects

    async def _send(self, assignments: list[dict[str, Any]], *, resent: bool = False) -> None:
        """Produce assignments; ``resent`` ones are open leases sent again after a restore, counted apart
        so that assignments_total counts each decision once however often the router restarts."""
        codec = self.codecs["assignments"]
        counter = metrics.ASSIGNMENTS_RESENT if resent else metrics.ASSIGNMENTS
        for assignment in assignments:
            annotator = assignment["annotator_id"]
            await self.assignments_topic.send(
                key=annotator.encode(),
                value=codec.encode(assignment),
                partition=partition_for(annotator, self.assignment_partitions),
            )
            counter.labels(assignment["kind"]).inc()

    def _publish_status(self, records: list[dict[str, Any]]) -> None:
        """Status records for `alstream status` (best effort: informational, rewritten on the next change)."""
        codec = self.codecs[STATUS_TOPIC]
        topic = self.settings.kafka.topic(STATUS_TOPIC)
        for record in records:
            key = record["status_key"]
            try:
                self.runtime.producer.produce(
                    topic,
                    key=key.encode(),
                    value=codec.encode(record),
                    partition=partition_for(key, self.status_partitions),
                )
            except BufferError:  # the local queue is full: the broker is behind; the next change rewrites it
                AGENT_ERRORS.labels(AGENT, "StatusQueueFull").inc()
                break
        self.runtime.producer.poll(0)

    def _publish_summaries(self) -> None:
        """Each owned shard's summary when it changed, and at least every SHARD_STATUS_REFRESH_S."""
        now_ms = int(time.time() * 1000)
        due = []
        for partition, shard in list(self.shards.items()):
            summary = shard.summary(now_ms=now_ms)
            view = (
                tuple(sorted(summary["pool_depth"].items())),
                summary["annotators_online"],
                summary["open_leases"],
            )
            last = self._summaries.get(partition)
            if last is None or last[0] != view or time.monotonic() - last[1] >= SHARD_STATUS_REFRESH_S:
                self._summaries[partition] = (view, time.monotonic())
                due.append(summary)
        self._publish_status(due)

    def _count(self, effects: Effects, base: str, record: dict[str, Any] | None) -> None:
        if effects.expired:
            metrics.LEASE_EXPIRIES.inc(effects.expired)
        for removed in effects.removed:
            metrics.POOL_REMOVED.labels(removed.reason).inc()
        if effects.ready is not None and effects.ready.reason is not None:
            metrics.READY_UNSERVED.labels(effects.ready.reason).inc()
        for refusal in effects.calibration_refused:
            metrics.CALIBRATION_REFUSED.labels(refusal).inc()
            log.warning(
                "a calibration round names an item this router never routed; not assigned (%s)", refusal
            )
        if effects.status:
            self._publish_status(effects.status)
            for status in effects.status:  # written on change only, so this logs transitions, not READYs
                if status["given"] == 0 and status["reason"] is not None:
                    log.info(
                        "annotator %s gets no work from shard %d: %s",
                        status["annotator_id"],
                        status["shard"],
                        status["reason"],
                    )
        if record is not None and record["event_type"] == "READY" and effects.assignments:
            occurred = record["occurred_at"]
            metrics.READY_LATENCY.observe(max(0.0, time.time() - occurred.timestamp()))
        if base == "candidates" or effects.assignments or effects.removed:
            self._publish_pool_depth()

    def _publish_pool_depth(self) -> None:
        """Every reason gets a sample, zeros included: a restarted router whose replayed events were all
        already applied must still report the pool it restored, not an absent gauge an SRE reads as empty.
        Nothing is published before a shard is restored: a zero then would be a guess, not a count."""
        if not self.shards:
            return
        depth = dict.fromkeys(SOURCE_OF_REASON.values(), 0)
        for shard in list(self.shards.values()):
            for source, n in shard.pool.depth().items():
                depth[source] = depth.get(source, 0) + n
        for source, n in depth.items():
            metrics.POOL_DEPTH.labels(REASON_OF_SOURCE[source]).set(n)

    def _update_gauges(self) -> None:
        """Presence, quota and idleness of the annotators, as seen by the shards this worker owns.

        At quota: online, and every owned shard has given its share of max_hard_per_day in the rolling
        day (so this worker can give them no more hard work). Idle: online, and every owned shard gave
        nothing at their latest READY and holds no open assignment of theirs; counted under the most
        actionable reason any shard gave (:func:`reasons.primary`).
        """
        now_ms = int(time.time() * 1000)
        shards = list(self.shards.values())
        annotators = {a for shard in shards for a, state in list(shard.annotators.items()) if state.online}
        at_quota = 0
        idle = dict.fromkeys(reasons.UNSERVED_REASONS, 0)
        for annotator_id in annotators:
            if all(shard.hard_quota_used(annotator_id, now_ms=now_ms) for shard in shards):
                at_quota += 1
            outcomes = [
                state.last_ready if (state := shard.annotators.get(annotator_id)) is not None else None
                for shard in shards
            ]
            if outcomes and all(o is not None and o.idle for o in outcomes):
                why = reasons.primary({o.reason for o in outcomes if o is not None and o.reason})
                if why is not None:
                    idle[why] += 1
        metrics.ONLINE.set(len(annotators))
        self._publish_pool_depth()
        metrics.AT_QUOTA.set(at_quota)
        for why, count in idle.items():
            metrics.IDLE.labels(why).set(count)
        metrics.WEEK_START.set(
            week_start_ms(
                now_ms, weekday=self.quotas.weekly_reset_weekday, hour=self.quotas.weekly_reset_hour
            )
            / 1000
        )

    # ---- calibration rounds ----------------------------------------------------------------------
    def _add_round(self, message: Message) -> None:
        """A calibration round, once the calibration contract accepts it; a refused one raises, and the
        runtime dead-letters it (a round the contract refuses is never assigned)."""
        event = self.codecs["calibration"].decode(message.value())
        problem = self.calibration_rules.verdict(event, now_ms=int(time.time() * 1000))
        if problem is not None:
            raise problem
        self.book.add_event(event)
