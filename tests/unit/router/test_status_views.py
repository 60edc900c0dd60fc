"""What `alstream status` makes of the router-status records: one view per annotator, the pool summed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from alstream.agents.router import reasons
from alstream.agents.router.quotas import Quotas
from alstream.agents.router.status import BUSY, IDLE, OFFLINE, UNKNOWN, WORKING, annotator_views, pool_view
from alstream.settings import load_settings
from alstream.streams.codecs import codec_for
from tests.support import records
from tests.support.router import ShardedRouter


def record(shard: int, annotator: str, **fields: Any) -> dict[str, Any]:
    base = {
        "status_key": f"annotator/{shard}/{annotator}",
        "kind": "ANNOTATOR",
        "shard": shard,
        "updated_at": records.T0,
        "annotator_id": annotator,
        "online": True,
        "last_ready_at": records.T0,
        "wanted": 5,
        "given": 0,
        "reason": reasons.EMPTY_POOL,
        "in_flight": 0,
        "hard_in_day": 0,
        "hard_cap": 100,
        "pool_depth": None,
        "annotators_online": None,
        "open_leases": None,
    }
    base.update(fields)
    return base


def test_states_and_the_primary_reason_over_shards() -> None:
    views = {
        v.annotator_id: v
        for v in annotator_views(
            [
                record(0, "idle", reason=reasons.HARD_QUOTA),
                record(1, "idle", reason=reasons.EMPTY_POOL),
                record(0, "busy", reason=reasons.IN_FLIGHT_CAP, in_flight=5),
                record(1, "busy", reason=reasons.IN_FLIGHT_CAP, in_flight=5),
                record(0, "working", given=5, reason=None, in_flight=5),
                record(1, "working", reason=reasons.EMPTY_POOL),
                record(0, "gone", online=False),
                record(0, "new", last_ready_at=None, wanted=None, given=None, reason=None),
            ]
        )
    }
    assert views["idle"].state == IDLE and views["idle"].reason == reasons.HARD_QUOTA
    assert views["idle"].reasons == {reasons.HARD_QUOTA: 1, reasons.EMPTY_POOL: 1}
    assert views["busy"].state == BUSY and views["busy"].reason == reasons.IN_FLIGHT_CAP
    assert views["working"].state == WORKING and views["working"].reason is None
    assert views["gone"].state == OFFLINE
    assert views["new"].state == UNKNOWN


def test_records_a_router_writes_round_trip_the_schema_and_fold_back() -> None:
    quotas = Quotas(version="v", max_hard_per_day=2, min_normal_share=0.0, qa_rate=0.0, random_share=0.0)
    router = ShardedRouter(quotas, shards=2)
    for i in range(10):
        router.add(f"h{i}")
    for _ in range(3):
        for assignment in router.ready("ann", 5):
            router.label(assignment)
    router.tick(5)
    summaries = [shard.summary(now_ms=router.now_ms) for shard in router.shards]
    codec = codec_for("router-status", load_settings())
    decoded = [codec.decode(codec.encode(r)) for r in [*router.status.values(), *summaries]]
    [view] = annotator_views(decoded)
    assert view.state == IDLE and view.reason == reasons.HARD_QUOTA and view.hard_in_day == 2
    assert view.last_ready_at is not None and view.last_ready_at <= records.T0 + timedelta(minutes=1)
    pool = pool_view(decoded)
    assert pool.depth["TOP_SCORE"] == 8 and pool.shards == [0, 1] and pool.open_leases == 0
