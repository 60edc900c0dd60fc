"""The router's pure shards wired as the broker wires them, for unit tests without Kafka.

Candidates and labels reach the shard of their item's partition (``partition_for(item_id)``, what a
default librdkafka producer does for keyed records); annotator events reach every shard (the router
fans each keyed event out to all its shards). Table writes are applied in order, then assignments are
"produced", like the router's batch loop does.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from alstream.agents.router.calibration import CalibrationBook
from alstream.agents.router.quotas import Quotas
from alstream.agents.router.state import Effects, RouterShard
from alstream.streams.partitioning import partition_for
from tests.support import records


class ShardedRouter:
    def __init__(
        self,
        quotas: Quotas,
        *,
        shards: int = 1,
        classes: list[str] | None = None,
        calibration: CalibrationBook | None = None,
        now: datetime = records.T0,
    ) -> None:
        self.quotas = quotas
        self.calibration = calibration
        self.classes = classes or records.CLASSES
        self.shards = [self._new(s, shards) for s in range(shards)]
        self.table: dict[str, Any] = {}
        self.now = now
        self.produced: list[dict[str, Any]] = []
        self.effects: list[Effects] = []
        self.unserved: Counter[str] = Counter()
        self.calibration_refused: Counter[str] = Counter()
        self.status: dict[str, dict[str, Any]] = {}  # the compacted router-status topic

    def _new(self, shard: int, shards: int) -> RouterShard:
        return RouterShard(
            shard=shard, shards=shards, quotas=self.quotas, classes=self.classes, calibration=self.calibration
        )

    @property
    def now_ms(self) -> int:
        return int(self.now.timestamp() * 1000)

    def tick(self, seconds: float = 1.0) -> None:
        self.now += timedelta(seconds=seconds)

    def shard_of(self, item_id: str) -> RouterShard:
        return self.shards[partition_for(item_id, len(self.shards))]

    def _apply(self, effects: Effects) -> list[dict[str, Any]]:
        for key, value in effects.puts:
            if value is None:
                self.table.pop(key, None)
            else:
                self.table[key] = value
        self.produced.extend(effects.assignments)
        self.effects.append(effects)
        if effects.ready is not None and effects.ready.reason is not None:
            self.unserved[effects.ready.reason] += 1
        self.calibration_refused.update(effects.calibration_refused)
        for record in effects.status:
            self.status[record["status_key"]] = record
        return effects.assignments

    def add(self, item_id: str, reason: str = "TOP_SCORE", **overrides: Any) -> None:
        record = records.candidate(item_id, reason=reason, selected_at=self.now, **overrides)
        self._apply(self.shard_of(item_id).handle_candidate(record, now_ms=self.now_ms))

    def event(self, annotator_id: str, event_type: str = "READY", **overrides: Any) -> list[dict[str, Any]]:
        """One annotator event, broadcast to every shard; returns the assignments it produced."""
        record = records.annotator_event(
            annotator_id, event_type=event_type, occurred_at=self.now, **overrides
        )
        got: list[dict[str, Any]] = []
        for shard in self.shards:
            got += self._apply(shard.handle_annotator_event(record, now_ms=self.now_ms))
        return got

    def ready(self, annotator_id: str, n: int = 1) -> list[dict[str, Any]]:
        return self.event(annotator_id, "READY", ready_for=n)

    def label(self, assignment: dict[str, Any], **overrides: Any) -> Effects:
        """A label for ``assignment``, sent where labels go: the partition of its item."""
        record = records.label(f"l-{assignment['assignment_id']}", of=assignment, **overrides)
        effects = self.shard_of(assignment["item_id"]).handle_label(record, now_ms=self.now_ms)
        self._apply(effects)
        return effects

    def restart(self) -> list[dict[str, Any]]:
        """Every shard rebuilt from the table; returns the open leases they re-send."""
        count = len(self.shards)
        self.shards = [self._new(s, count) for s in range(count)]
        resent: list[dict[str, Any]] = []
        for shard in self.shards:
            shard.restore((k, v) for k, v in self.table.items() if v[0] == shard.shard)
            resent += shard.open_assignments()
        return resent
