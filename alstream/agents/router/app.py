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

from alstream.agents.router import metrics
from alstream.agents.router.calibration import CalibrationBook
from alstream.agents.router.exceptions import PartitionLayoutError
from alstream.agents.router.mix import RollingDay
from alstream.agents.router.pool import SOURCE_OF_REASON
from alstream.agents.router.quotas import load_quotas
from alstream.agents.router.state import Effects, RouterShard, week_start_ms
from alstream.observability.metrics import AGENT_ERRORS, AGENT_LAST_PROGRESS
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import codec_for
from alstream.streams.faust_support import make_app, partition_counts
from alstream.streams.partitioning import partition_for
from alstream.streams.runtime import AgentRuntime

log = logging.getLogger(__name__)
AGENT = "router"
TICK_ANNOTATOR = "__router_tick__"  # reserved annotator id: a heartbeat that sweeps expired leases
SHARD_TOPICS = ("candidates", "annotator-events", "labels")
REASON_OF_SOURCE = {source: reason for reason, source in SOURCE_OF_REASON.items()}


class RouterService:
    """Builds the faust app and holds the shards this worker owns; runs inside the agent runtime, which
    owns the worker, the calibration reader and the producer of dead letters."""

    def __init__(self, *, settings: AlstreamSettings, runtime: AgentRuntime) -> None:
        self.settings = settings
        self.runtime = runtime
        counts = partition_counts(
            settings, [*SHARD_TOPICS, "assignments", "calibration"], agent=AGENT, stop=runtime.stopping
        )
        if len({counts[t] for t in SHARD_TOPICS}) != 1:
            raise PartitionLayoutError(
                "candidates, annotator-events and labels must have the same partition count (they are the "
                f"router's shards); found {', '.join(f'{t}={counts[t]}' for t in SHARD_TOPICS)}"
            )
        self.shard_count = counts["candidates"]
        self.assignment_partitions = counts["assignments"]
        self.quotas = load_quotas(settings.paths.quotas_file)
        self.classes = settings.task.require_classes()
        self.book = CalibrationBook(max_age_ms=int(settings.router.calibration_max_age_s * 1000))
        self.codecs = {t: codec_for(t, settings) for t in (*SHARD_TOPICS, "assignments", "calibration")}
        self.shards: dict[int, RouterShard] = {}
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
            AGENT_LAST_PROGRESS.labels(AGENT).set(time.time())

        @self.app.on_partitions_revoked.connect
        async def on_revoked(app: Any, revoked: Any = None, **_: Any) -> None:
            self.shards.clear()  # rebuilt from the table (after faust's recovery) on the next event

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
            await self._send(shard.open_assignments())  # tools dedupe by assignment_id
        if shard.already_applied(base, message.offset):
            return
        now_ms = int(time.time() * 1000)
        try:
            record = self.codecs[base].decode(event.value)
        except Exception as exc:  # noqa: BLE001 - every undecodable record is dead-lettered, never dropped
            self._dead_letter(event, exc)
            record = None
            effects = Effects()
        else:
            try:
                effects = self._apply(shard, base, record, now_ms)
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

    async def _send(self, assignments: list[dict[str, Any]]) -> None:
        codec = self.codecs["assignments"]
        for assignment in assignments:
            annotator = assignment["annotator_id"]
            await self.assignments_topic.send(
                key=annotator.encode(),
                value=codec.encode(assignment),
                partition=partition_for(annotator, self.assignment_partitions),
            )
            metrics.ASSIGNMENTS.labels(assignment["kind"]).inc()

    def _count(self, effects: Effects, base: str, record: dict[str, Any] | None) -> None:
        if effects.expired:
            metrics.LEASE_EXPIRIES.inc(effects.expired)
        for removed in effects.removed:
            metrics.POOL_REMOVED.labels(removed.reason).inc()
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
        now_ms = int(time.time() * 1000)
        online: set[str] = set()
        at_quota: set[str] = set()
        for shard in list(self.shards.values()):
            cap = shard.shard_quotas.max_hard_per_day
            for annotator_id, state in list(shard.annotators.items()):
                if state.online:
                    online.add(annotator_id)
                day: RollingDay = state.day
                if day.counts(now_ms).hard >= cap:
                    at_quota.add(annotator_id)
        metrics.ONLINE.set(len(online))
        self._publish_pool_depth()
        metrics.AT_QUOTA.set(len(at_quota))
        metrics.WEEK_START.set(
            week_start_ms(
                now_ms, weekday=self.quotas.weekly_reset_weekday, hour=self.quotas.weekly_reset_hour
            )
            / 1000
        )

    # ---- calibration rounds ----------------------------------------------------------------------
    def _add_round(self, message: Message) -> None:
        self.book.add_event(self.codecs["calibration"].decode(message.value()))
