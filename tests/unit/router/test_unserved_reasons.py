"""Every READY that is not fully served has a reason, and the lead's status view changes only with it."""

from __future__ import annotations

import pytest

from alstream.agents.router import reasons
from alstream.agents.router.quotas import Quotas
from tests.support.router import ShardedRouter

OPEN = Quotas(
    version="why-1",
    max_hard_per_day=100,
    min_normal_share=0.0,
    random_share=0.0,
    qa_rate=0.0,
    max_random_share=0.0,
    overlap_fraction=0.0,
    max_in_flight=50,
)


def last_reason(router: ShardedRouter, annotator: str) -> str | None:
    outcome = router.shards[0].annotators[annotator].last_ready
    assert outcome is not None
    return outcome.reason


def test_a_fully_served_ready_has_no_reason() -> None:
    router = ShardedRouter(OPEN)
    for i in range(5):
        router.add(f"h{i}")
    assert len(router.ready("ann", 3)) == 3
    assert last_reason(router, "ann") is None and not router.unserved


def test_empty_pool() -> None:
    router = ShardedRouter(OPEN)
    assert router.ready("ann", 3) == []
    assert last_reason(router, "ann") == reasons.EMPTY_POOL


def test_in_flight_cap() -> None:
    router = ShardedRouter(OPEN.model_copy(update={"max_in_flight": 2}))
    for i in range(5):
        router.add(f"h{i}")
    assert len(router.ready("ann", 5)) == 2  # served in part: the annotator is busy, not idle
    assert last_reason(router, "ann") == reasons.IN_FLIGHT_CAP
    assert router.ready("ann", 1) == []
    assert last_reason(router, "ann") == reasons.IN_FLIGHT_CAP


def test_hard_quota_with_only_hard_work_left() -> None:
    router = ShardedRouter(OPEN.model_copy(update={"max_hard_per_day": 2}))
    for i in range(5):
        router.add(f"h{i}")
    assert len(router.ready("ann", 5)) == 2
    assert last_reason(router, "ann") == reasons.HARD_QUOTA
    assert router.shards[0].hard_quota_used("ann", now_ms=router.now_ms)


def test_normal_share_with_only_hard_work() -> None:
    router = ShardedRouter(OPEN.model_copy(update={"min_normal_share": 0.3}))
    router.add("h0")
    assert router.ready("ann", 1) == []  # a first item may not be hard when 30 % must be normal
    assert last_reason(router, "ann") == reasons.NORMAL_SHARE


def test_mix_share_with_only_qa_gold_left() -> None:
    router = ShardedRouter(OPEN.model_copy(update={"qa_rate": 0.05}))
    router.add("n0", "SHIFT_REVIEW")
    for i in range(3):
        router.add(f"q{i}", "QA_GOLD")
    got = router.ready("ann", 5)
    assert [a["kind"] for a in got].count("NORMAL") == 1 and len(got) <= 2
    assert last_reason(router, "ann") == reasons.MIX_SHARE


def test_skills() -> None:
    router = ShardedRouter(OPEN)
    router.add("xray", skills=["radiology"])
    assert router.ready("ann", 1) == []
    assert last_reason(router, "ann") == reasons.SKILLS


def test_already_seen() -> None:
    router = ShardedRouter(OPEN.model_copy(update={"lease_seconds": 60}))
    router.add("h0")
    [assignment] = router.ready("ann", 1)
    router.tick(120)  # the lease expires: the item is back in the pool, but not for "ann"
    assert router.ready("ann", 1) == []
    assert last_reason(router, "ann") == reasons.ALREADY_SEEN
    assert router.ready("other", 1)[0]["item_id"] == assignment["item_id"]


@pytest.mark.parametrize("shards", [1, 3])
def test_status_records_are_written_when_the_view_changes_only(shards: int) -> None:
    router = ShardedRouter(OPEN.model_copy(update={"max_hard_per_day": 3 * shards}), shards=shards)
    router.event("ann", "ONLINE")
    assert len(router.status) == shards  # one record per shard and annotator, online, no READY yet
    for _ in range(5):
        router.ready("ann", 1)  # nothing pooled: the same answer every time
    unchanged = [e for e in router.effects[-5 * shards :] if e.status]
    assert len(unchanged) == shards  # written once, at the first READY, not five times
    for i in range(40):
        router.add(f"h{i}")
    for _ in range(6):
        for assignment in router.ready("ann", 1):
            router.label(assignment)
    view = {key: record for key, record in router.status.items() if record["annotator_id"] == "ann"}
    assert len(view) == shards
    assert {record["reason"] for record in view.values()} == {reasons.HARD_QUOTA}
    assert all(record["given"] == 0 and record["online"] for record in view.values())
    assert sum(record["hard_in_day"] for record in view.values()) == 3 * shards
    router.event("ann", "OFFLINE")
    assert not any(record["online"] for record in router.status.values())
