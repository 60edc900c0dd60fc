"""The router: a consumer-group batch loop over the co-partitioned candidates / annotator-events / labels
topics, inside the agent runtime; each shard's state is a table whose changelog is the compacted
``router-state`` topic; assignments are produced keyed by annotator_id.

Partition *p* of the three topics (and of ``router-state``) is shard *p*. The range assignor hands
partition *p* of every topic to one worker, so the router scales out to as many workers as there are
partitions, and a rebalance moves whole shards: the new owner restores the shard (its checkpoint plus
the changelog after it, :mod:`.changelog`) before it handles the shard's next record.

Crash-safe write order, per batch (the contract of :mod:`.state`): the handlers' table writes are
produced to the changelog in order and acknowledged, *then* the assignments are produced, and only when
everything is acknowledged are the input offsets stored. With ``router.transactions`` the batch's
outputs and input offsets also commit in one Kafka transaction (on brokers whose transactions are
complete; it fences a worker that lost its shards while paused). A crash anywhere replays inputs whose effects
may already be in the changelog; the handlers skip them (event ids, leases, the candidates' offset mark).
Why not faust: its per-event machinery (a task, a send and a changelog send per event, awaited one by
one) made the router fall seconds behind at a few hundred READY/s; this loop pays the broker round trip
once per batch (docs/deploy.md, "Scaling the router").

Annotation tools send each annotator event once, keyed by annotator id (it lands on the annotator's
home partition); the shard that reads it there copies it to every other partition, marked with
``FANOUT_HEADER``, so every shard hears it. Events a tool broadcast itself (the deprecated form: one
copy per partition) are still applied; shards dedupe copies by event_id.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException, Message, Producer, TopicPartition

from alstream.agents.router import metrics, reasons
from alstream.agents.router.calibration import CalibrationBook
from alstream.agents.router.changelog import STATE_TOPIC, encode_value, restore_table
from alstream.agents.router.checkpoint import Checkpointer, ShardCheckpoint
from alstream.agents.router.exceptions import PartitionLayoutError
from alstream.agents.router.inputs import InputContract
from alstream.agents.router.pool import REASON_OF_SOURCE, SOURCE_OF_REASON
from alstream.agents.router.quotas import load_quotas
from alstream.agents.router.state import Effects, RouterShard, week_start_ms
from alstream.contracts.calibration import CalibrationRules
from alstream.contracts.ids import ROUTER_TICK as TICK_ANNOTATOR
from alstream.observability.metrics import AGENT_ERRORS, AGENT_LAST_PROGRESS
from alstream.settings import AlstreamSettings
from alstream.streams.batch_loop import Outputs
from alstream.streams.codecs import codec_for
from alstream.streams.exceptions import DeliveryFailed
from alstream.streams.kafka_config import producer_config
from alstream.streams.messages import coordinates
from alstream.streams.partitioning import partition_for
from alstream.streams.reading import TopicTail
from alstream.streams.runtime import AgentRuntime
from alstream.streams.topics import partition_counts

log = logging.getLogger(__name__)
AGENT = "router"
SHARD_TOPICS = ("candidates", "annotator-events", "labels")
STATUS_TOPIC = "router-status"
FANOUT_HEADER = "alstream-router-fanout"  # on the copies of a keyed annotator event the router made
SHARD_STATUS_REFRESH_S = 60.0  # a shard summary is rewritten at least this often, so its age shows liveness


@dataclass
class _Work:
    """What a batch produces, in the order it must be produced."""

    puts: list[tuple[int, bytes, bytes | None]] = field(default_factory=list)  # (shard, key, value)
    copies: list[tuple[int, bytes | None, bytes | None, list[tuple[str, str | bytes | None]]]] = field(
        default_factory=list
    )  # (partition, key, value, headers) of annotator events for the other shards
    assignments: list[tuple[bytes, bytes]] = field(default_factory=list)  # (annotator key, Avro value)
    status: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.puts or self.copies or self.assignments or self.status)


class RouterService:
    """The router's batch processor and the shards this worker owns; runs inside the agent runtime,
    which owns the loop, the calibration reader and the dead letters."""

    def __init__(
        self,
        *,
        settings: AlstreamSettings,
        runtime: AgentRuntime,
        consumer: Any | None = None,
        producer: Any | None = None,
    ) -> None:
        """``consumer`` / ``producer`` replace the confluent-kafka clients (unit tests)."""
        self.settings = settings
        self.runtime = runtime
        kafka = settings.kafka
        counts = partition_counts(
            settings,
            [*SHARD_TOPICS, STATE_TOPIC, "assignments", "calibration", STATUS_TOPIC],
            agent=AGENT,
            stop=runtime.stopping,
        )
        if len({counts[t] for t in (*SHARD_TOPICS, STATE_TOPIC)}) != 1:
            raise PartitionLayoutError(
                "candidates, annotator-events, labels and router-state must have the same partition count "
                "(they are the router's shards); found "
                f"{', '.join(f'{t}={counts[t]}' for t in (*SHARD_TOPICS, STATE_TOPIC))}"
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
        self.checkpointers: dict[int, Checkpointer] = {}
        self._parked: dict[int, tuple[RouterShard, Checkpointer]] = {}  # revoked, reusable if unchanged
        self._applied: dict[tuple[str, int], int] = {}  # (topic, partition) -> last offset handled in memory
        self._last_work: _Work | None = None
        self._state_failures: list[Any] = []
        self._summaries: dict[int, tuple[tuple[Any, ...], float]] = {}  # shard -> (last published, when)
        self._prefix = kafka.topic_prefix
        self.state_topic = kafka.topic(STATE_TOPIC)
        self.events_topic = kafka.topic("annotator-events")
        self.assignments_topic = kafka.topic("assignments")
        self.checkpoint_dir = Path(settings.paths.state_dir) / "router" / self.state_topic
        self._next_tick = 0.0
        self._next_checkpoint = time.monotonic() + settings.router.checkpoint_interval_s
        self._outputs: Outputs | None = None
        self._pool_changed = False
        # Every worker reads all calibration rounds (one small partition) from the start, outside the
        # group; a round it cannot use is dead-lettered (and counted) by the runtime.
        runtime.follow([kafka.topic("calibration")], self._add_round, what="calibration rounds")
        router = settings.router
        self.transactional = router.transactions
        self._in_transaction = False
        self._uncommitted: list[tuple[int, bytes, bytes | None, int]] = []  # state writes of the open one
        transactional_id = f"{kafka.group_id(router.group_id)}-{router.instance_id}"  # see RouterSettings
        self.producer = (
            producer
            if producer is not None
            # Each batch waits for its table writes, then for its assignments: no lingering for more.
            else Producer(
                producer_config(
                    settings,
                    **{"linger.ms": 0},
                    **(
                        {
                            "transactional.id": transactional_id,
                            # at least the delivery timeout (librdkafka's rule); brokers allow 15 min
                            "transaction.timeout.ms": int(kafka.outage_tolerance_s * 1000),
                        }
                        if self.transactional
                        else {}
                    ),
                )
            )
        )
        if self.transactional:
            self.producer.init_transactions(kafka.outage_tolerance_s)
            log.info("router: each batch commits in one transaction (transactional.id %s)", transactional_id)
        self.runner = runtime.consume(
            topics=[kafka.topic(t) for t in SHARD_TOPICS],
            group_id=kafka.group_id(settings.router.group_id),
            processor=self,
            batch_size=settings.router.batch_max_records,
            poll_timeout_s=settings.router.poll_timeout_s,
            # range: partition p of every subscribed topic goes to the same worker (shard p is whole)
            consumer_overrides={
                "partition.assignment.strategy": "range",
                # a worker that dies leaves at most this much handled input to replay (deduped, not free)
                "auto.commit.interval.ms": 1000,
                **({"group.instance.id": router.instance_id} if router.instance_id else {}),
            },
            producer=self.producer,
            consumer=consumer,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
        )

    # ---- the batch processor ----------------------------------------------------------------------
    def process(self, messages: list[Message], outputs: Outputs) -> None:
        self._outputs = outputs
        with self._transaction(messages):
            self._process(messages)
        self._maybe_checkpoint()

    def _process(self, messages: list[Message]) -> None:
        fresh = []
        for message in messages:
            topic, partition, offset = coordinates(message)
            if offset > self._applied.get((topic, partition), -1):
                fresh.append(message)
        if len(fresh) < len(messages) and self._last_work:
            # An attempt of this batch failed to deliver: its outputs again (all idempotent by key / id).
            self._write(self._last_work)
        work = _Work()
        for message in fresh:
            topic, partition, offset = coordinates(message)
            self._applied[(topic, partition)] = offset
            self._handle(message, work)
        self._maybe_tick(work)
        self._last_work = work
        self._write(work)
        if self._pool_changed:
            self._pool_changed = False
            self._publish_pool_depth()

    def on_idle(self, outputs: Outputs) -> None:
        self._outputs = outputs
        with self._transaction():
            work = _Work()
            self._maybe_tick(work)
            self._last_work = None
            self._write(work)
        self._maybe_checkpoint()

    @contextlib.contextmanager
    def _transaction(self, messages: list[Message] | None = None) -> Iterator[None]:
        """With ``router.transactions``: what the block produces, and the input offsets of ``messages``,
        commit together or not at all. Checkpoints hear of table writes only once they are committed."""
        if not self.transactional or self._in_transaction:
            yield
            return
        timeout = self.settings.kafka.outage_tolerance_s
        self.producer.begin_transaction()
        self._in_transaction = True
        try:
            yield
            if messages:
                last = {(t, p): o for t, p, o in map(coordinates, messages)}
                self.producer.send_offsets_to_transaction(
                    [TopicPartition(t, p, o + 1) for (t, p), o in last.items()],
                    self.runner.consumer.consumer_group_metadata(),
                    timeout,
                )
            self.producer.commit_transaction(timeout)
        except BaseException:
            self._uncommitted.clear()
            with contextlib.suppress(KafkaException):
                self.producer.abort_transaction(timeout)
            raise
        finally:
            self._in_transaction = False
        self._checkpoint_committed()

    def _commit_so_far(self) -> None:
        """Inside a transaction: commit what it holds and open the next one (a restore reads only what
        is committed)."""
        if self._in_transaction:
            timeout = self.settings.kafka.outage_tolerance_s
            self.producer.commit_transaction(timeout)
            self._checkpoint_committed()
            self.producer.begin_transaction()

    def _checkpoint_committed(self) -> None:
        for partition, key, value, offset in self._uncommitted:
            checkpointer = self.checkpointers.get(partition)
            if checkpointer is not None:
                checkpointer.add(key, value)
                checkpointer.offset = offset + 1
        self._uncommitted.clear()

    def _write(self, work: _Work) -> None:
        """Table writes (acknowledged) before copies and assignments: see the module docstring."""
        if not work:
            return
        produce = self.producer.produce
        for partition, key, value in work.puts:
            produce(self.state_topic, value, key, partition=partition, on_delivery=self._on_state_delivered)
        if work.puts:
            self._wait_state_delivered()
        on_delivery = self._outputs.on_delivery if self._outputs is not None else None
        for partition, event_key, event, headers in work.copies:
            produce(
                self.events_topic,
                event,
                event_key,
                partition=partition,
                headers=headers,
                on_delivery=on_delivery,
            )
        for annotator, assignment in work.assignments:
            produce(
                self.assignments_topic,
                assignment,
                annotator,
                partition=partition_for(annotator, self.assignment_partitions),
                on_delivery=on_delivery,
            )
        if work.status:
            self._publish_status(work.status)
        self.producer.poll(0)

    def _on_state_delivered(self, err: Any, message: Message) -> None:
        if err is not None:
            self._state_failures.append(err)
            return
        _, partition, offset = coordinates(message)
        if self._in_transaction:  # it may still be aborted
            self._uncommitted.append((partition, message.key() or b"", message.value(), offset))
            return
        checkpointer = self.checkpointers.get(partition)
        if checkpointer is not None:
            checkpointer.add(message.key() or b"", message.value())
            checkpointer.offset = offset + 1

    def _wait_state_delivered(self) -> None:
        while self.producer.flush(1.0):
            if self.runtime.stopping():
                raise DeliveryFailed("stopping while table writes wait for the broker")
        failures, self._state_failures = self._state_failures, []
        if failures:
            raise DeliveryFailed("table writes not acknowledged: " + "; ".join(str(f) for f in failures[:5]))

    # ---- shards: restore, rebalance, checkpoints ---------------------------------------------------
    def _new_shard(self, partition: int) -> RouterShard:
        router = self.settings.router
        return RouterShard(
            shard=partition,
            shards=self.shard_count,
            quotas=self.quotas,
            classes=self.classes,
            pool_max=router.pool_max_per_shard,
            max_age_ms=int(router.candidate_max_age_s * 1000),
            fresh_max=router.fresh_pool_max,
            calibration=self.book,
        )

    def _serve(self, partition: int) -> RouterShard:
        """The shard, restored before it handles anything: a parked one if the changelog did not move
        since this worker wrote it, else from its checkpoint and the changelog after it."""
        parked = self._parked.pop(partition, None)
        if parked is not None and self._unchanged_since(partition, parked[1].offset):
            shard, checkpointer = parked
            self.shards[partition], self.checkpointers[partition] = shard, checkpointer
            return shard
        started = time.monotonic()
        checkpointer = Checkpointer(ShardCheckpoint(self.checkpoint_dir / f"shard-{partition}.sqlite"))
        table = restore_table(
            settings=self.settings,
            topic=self.state_topic,
            partition=partition,
            checkpointer=checkpointer,
            agent=AGENT,
            stop=self.runtime.stopping,
        )
        shard = self._new_shard(partition)
        shard.restore(table.decoded())
        self.shards[partition], self.checkpointers[partition] = shard, checkpointer
        for key in [key for key in self._applied if key[1] == partition]:
            del self._applied[key]  # replays are now judged by the restored state (event ids, leases, marks)
        metrics.RESTORED_RECORDS.labels("checkpoint").inc(table.from_checkpoint)
        metrics.RESTORED_RECORDS.labels("changelog").inc(table.tail)
        del table
        gc.collect()
        gc.freeze()  # a restored pool can hold a million records: keep them out of every full GC
        checkpointer.flush()  # the tail joins the checkpoint, in the background
        work = _Work()
        for record in shard.open_assignments():  # a crash may have lost them between lease and send
            work.assignments.append(
                (record["annotator_id"].encode(), self.codecs["assignments"].encode(record))
            )
            metrics.ASSIGNMENTS_RESENT.labels(record["kind"]).inc()
        with self._transaction():
            self._write(work)
        elapsed = time.monotonic() - started
        metrics.RESTORE_SECONDS.observe(elapsed)
        self._publish_pool_depth()
        log.info(
            "router shard %d restored in %.1fs: %d pooled, %d annotators, %d open leases",
            partition,
            elapsed,
            len(shard.pool),
            len(shard.annotators),
            len(shard.leases),
        )
        return shard

    def _unchanged_since(self, partition: int, offset: int) -> bool:
        """Whether nothing was written to the shard's changelog at or after ``offset``."""
        tail = TopicTail(
            settings=self.settings,
            start={(self.state_topic, partition): offset},
            agent=AGENT,
            stop=self.runtime.stopping,
        )
        try:
            return tail.catch_up() == 0
        finally:
            tail.close()

    def _on_assign(self, partitions: list[TopicPartition]) -> None:
        owned = sorted({tp.partition for tp in partitions if tp.topic == self.events_topic})
        for partition in owned:
            if partition not in self.shards:
                self._serve(partition)
        self._parked.clear()  # shards that moved elsewhere: their new owner restores them
        metrics.SHARDS.set(len(self.shards))
        log.info("router serving shards %s", owned)

    def _on_revoke(self, partitions: list[TopicPartition]) -> None:
        for partition in sorted({tp.partition for tp in partitions}):
            shard = self.shards.pop(partition, None)
            checkpointer = self.checkpointers.pop(partition, None)
            if shard is None or checkpointer is None:
                continue
            checkpointer.flush(wait=True)  # the next owner (maybe on this host) starts from here
            if not checkpointer.failed:
                self._parked[partition] = (shard, checkpointer)
            self._summaries.pop(partition, None)
        metrics.SHARDS.set(len(self.shards))

    def _maybe_checkpoint(self) -> None:
        if time.monotonic() < self._next_checkpoint:
            return
        self._next_checkpoint = time.monotonic() + self.settings.router.checkpoint_interval_s
        for checkpointer in list(self.checkpointers.values()):
            checkpointer.flush()

    def close(self) -> None:
        """At shutdown: every shard's checkpoint brought up to date (a restart then reads no tail)."""
        for checkpointer in list(self.checkpointers.values()):
            checkpointer.flush(wait=True)

    # ---- event handling ---------------------------------------------------------------------------
    def _maybe_tick(self, work: _Work) -> None:
        """Every tick_interval_s: expired leases swept in every shard (even a quiet one), gauges and
        shard summaries refreshed."""
        now = time.monotonic()
        if now < self._next_tick:
            return
        self._next_tick = now + self.settings.router.tick_interval_s
        now_ms = int(time.time() * 1000)
        for partition, shard in list(self.shards.items()):
            effects = shard.expire(now_ms=now_ms)
            self._collect(partition, effects, work)
            self._count(effects, "annotator-events", None, work)
        self._update_gauges()
        self._publish_summaries()
        # What survived a tick (pooled candidates, annotators, leases) stays out of the cyclic GC: a full
        # collection walking a million pooled records paused the loop for a second. The router's records
        # hold no reference cycles, so freezing them keeps nothing alive that refcounting would free.
        gc.freeze()
        AGENT_LAST_PROGRESS.labels(AGENT).set(time.time())

    def _collect(self, partition: int, effects: Effects, work: _Work) -> None:
        for key, value in effects.puts:
            work.puts.append((partition, key.encode(), encode_value(value)))
        codec = self.codecs["assignments"]
        for assignment in effects.assignments:
            work.assignments.append((assignment["annotator_id"].encode(), codec.encode(assignment)))
            metrics.ASSIGNMENTS.labels(assignment["kind"]).inc()

    def _fan_out(self, message: Message, record: dict[str, Any], work: _Work) -> None:
        """A keyed annotator event read on its home partition goes to every other shard."""
        raw = message.headers() or []
        headers: list[tuple[str, str | bytes | None]] = list(raw.items() if isinstance(raw, dict) else raw)
        if any(name == FANOUT_HEADER for name, _ in headers) or record["annotator_id"] == TICK_ANNOTATOR:
            return
        _, partition, _ = coordinates(message)
        if partition != partition_for(record["annotator_id"], self.shard_count):
            metrics.EVENTS_FANNED_OUT.labels("broadcast").inc()  # a copy the tool sent to this shard
            return
        metrics.EVENTS_FANNED_OUT.labels("keyed").inc()
        marked = [*headers, (FANOUT_HEADER, b"1")]
        for other in range(self.shard_count):
            if other != partition:
                work.copies.append((other, message.key(), message.value(), marked))

    def _handle(self, message: Message, work: _Work) -> None:
        topic, partition, offset = coordinates(message)
        base = topic[len(self._prefix) :]
        shard = self.shards.get(partition)
        if shard is None:  # its restore failed in the rebalance callback: restore it now
            shard = self._serve(partition)
        if shard.already_applied(base, offset):
            return
        now_ms = int(time.time() * 1000)
        record: dict[str, Any] | None
        try:
            decoded = self.codecs[base].decode(message.value())
        except Exception as exc:  # noqa: BLE001 - every undecodable record is dead-lettered, never dropped
            self._dead_letter(message, exc)
            record = None
            effects = Effects()
        else:
            record = decoded
            try:
                violation = self.inputs.violation(shard, base, decoded, now_ms=now_ms)
                if violation is not None:  # refused: it never touches the shard (no lease, no pool)
                    self._dead_letter(message, violation)
                    if base == "labels":
                        metrics.LABELS_MATCHED.labels("refused").inc()
                    effects, record = Effects(), None
                else:
                    if base == "annotator-events":
                        self._fan_out(message, decoded, work)
                    effects = self._apply(shard, base, decoded, now_ms)
            except Exception as exc:  # noqa: BLE001 - the poison-pill rule: a record the router cannot use
                log.warning("router cannot use %s@%s:%s: %r", topic, partition, offset, exc)
                self._dead_letter(message, exc)
                AGENT_ERRORS.labels(AGENT, type(exc).__name__).inc()
                # Memory may be half-changed: what is decided so far goes out, then the shard is rebuilt
                # from its changelog (which now holds all of it).
                self._write(work)
                self._commit_so_far()
                work.puts.clear()
                work.copies.clear()
                work.assignments.clear()
                work.status.clear()
                self.shards.pop(partition, None)
                checkpointer = self.checkpointers.pop(partition, None)
                if checkpointer is not None:
                    checkpointer.flush(wait=True)
                shard = self._serve(partition)
                effects, record = Effects(), None
        shard.mark_applied(effects, base, offset)
        self._collect(partition, effects, work)
        self._count(effects, base, record if base == "annotator-events" else None, work)
        AGENT_LAST_PROGRESS.labels(AGENT).set(time.time())

    def _dead_letter(self, message: Message, error: BaseException) -> None:
        if self._outputs is not None:
            self._outputs.dead_letter(message, error, f"{type(error).__name__}: {error}")
        else:
            self.runtime.reject(message, error, what="router input")

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

    def _publish_status(self, records: list[dict[str, Any]]) -> None:
        """Status records for `alstream status` (best effort: informational, rewritten on the next change)."""
        codec = self.codecs[STATUS_TOPIC]
        topic = self.settings.kafka.topic(STATUS_TOPIC)
        for record in records:
            key = record["status_key"]
            try:
                self.producer.produce(
                    topic,
                    key=key.encode(),
                    value=codec.encode(record),
                    partition=partition_for(key, self.status_partitions),
                )
            except BufferError:  # the local queue is full: the broker is behind; the next change rewrites it
                AGENT_ERRORS.labels(AGENT, "StatusQueueFull").inc()
                break

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

    def _count(self, effects: Effects, base: str, record: dict[str, Any] | None, work: _Work) -> None:
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
            work.status.extend(effects.status)
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
            self._pool_changed = True  # published once per batch

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
