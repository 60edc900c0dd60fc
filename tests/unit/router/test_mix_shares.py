"""The work mix holds its shares from an annotator's first assignment and stays bounded when supply runs out.

Shards are wired as the broker wires them (tests/support/router.py): candidates on their item's
partition, annotator events broadcast to every shard. The annotator labels everything it gets and asks
again, as a tool does.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alstream.agents.router import reasons
from alstream.agents.router.mix import DAY_MS, MixCounts, MixPhase, plan, scheduled
from alstream.agents.router.pool import HARD, QA, RANDOM, SOURCE_OF_REASON
from alstream.agents.router.quotas import Quotas
from tests.support.router import ShardedRouter

QUOTAS = Quotas(
    version="mix-1",
    max_hard_per_day=10_000,
    min_normal_share=0.3,
    random_share=0.15,
    qa_rate=0.05,
    max_random_share=0.3,
    overlap_fraction=0.0,
    max_in_flight=40,
)


def stock(router: ShardedRouter, **counts: int) -> None:
    """Pool ``counts[reason]`` candidates of each candidate reason."""
    for reason, n in counts.items():
        for i in range(n):
            router.add(f"{reason}-{i}", reason, score=(i % 97) / 100)


def check_reasons(router: ShardedRouter, annotator: str) -> None:
    """Each shard's answer to the READY just handled says something true about that shard now."""
    for shard, effects in zip(router.shards, router.effects[-len(router.shards) :], strict=True):
        outcome = effects.ready
        assert outcome is not None and outcome.given <= outcome.wanted
        state = shard.annotators[annotator]
        counts = state.day.counts(router.now_ms)
        if outcome.reason is None:
            assert outcome.given == outcome.wanted
        elif outcome.reason == reasons.IN_FLIGHT_CAP:
            assert len(state.in_flight) >= shard.shard_quotas.max_in_flight
        elif outcome.reason == reasons.HARD_QUOTA:
            assert counts.hard >= shard.shard_quotas.max_hard_per_day
            assert (
                shard.pool.supply(HARD, skills=state.skills, excluded=state.seen.__contains__) == "available"
            )
        elif outcome.reason == reasons.NORMAL_SHARE:
            assert (counts.total - counts.hard) < shard.shard_quotas.min_normal_share * (counts.total + 1)
        elif outcome.reason == reasons.EMPTY_POOL:
            assert len(shard.pool) == 0
        else:
            assert outcome.reason in reasons.UNSERVED_REASONS


def work(router: ShardedRouter, annotator: str, total: int, ready_for: int = 5) -> list[dict[str, Any]]:
    """The annotator asks, labels all it got, asks again, until ``total`` assignments or nothing comes."""
    got: list[dict[str, Any]] = []
    while len(got) < total:
        batch = router.ready(annotator, ready_for)
        check_reasons(router, annotator)
        if not batch:
            break
        for assignment in batch:
            router.label(assignment)
        got += batch
        router.tick(30)
    return got[:total]


@pytest.mark.parametrize("shards", [1, 2, 4])
def test_qa_and_random_shares_hold_from_the_first_assignment(shards: int) -> None:
    router = ShardedRouter(QUOTAS, shards=shards)
    stock(router, TOP_SCORE=400, SHIFT_REVIEW=400, RANDOM_SLICE=200, QA_GOLD=60)
    for annotator in ("ann-1", "ann-2", "ann-3"):
        kinds = [a["kind"] for a in work(router, annotator, 200)]
        assert len(kinds) == 200
        first_qa = kinds.index("QA") + 1
        assert first_qa <= 1 / QUOTAS.qa_rate + shards, (annotator, first_qa)
        slack = shards / 2 + 1  # each shard is within one item of its schedule; phases stagger them
        for n in range(1, len(kinds) + 1):
            prefix = Counter(kinds[:n])
            assert abs(prefix["QA"] - QUOTAS.qa_rate * n) <= slack, (annotator, n, prefix)
            assert abs(prefix["RANDOM"] - QUOTAS.random_share * n) <= slack, (annotator, n, prefix)
        assert Counter(kinds)["HARD"] / len(kinds) <= 1 - QUOTAS.min_normal_share + 1e-9


@pytest.mark.parametrize("shards", [1, 4])
def test_without_normal_work_random_fills_in_only_up_to_its_cap(shards: int) -> None:
    router = ShardedRouter(QUOTAS, shards=shards)
    stock(router, TOP_SCORE=600, RANDOM_SLICE=600, QA_GOLD=60)
    kinds = Counter(a["kind"] for a in work(router, "ann", 300))
    total = sum(kinds.values())
    assert total == 300  # random work keeps the normal share, so the annotator is never left idle
    assert kinds["RANDOM"] <= math.ceil(QUOTAS.max_random_share * total) + shards
    assert kinds["QA"] <= QUOTAS.qa_rate * total + shards
    assert kinds["HARD"] / total <= 1 - QUOTAS.min_normal_share + 1e-9
    assert kinds["HARD"] / total >= 0.6  # the point of active learning: hard work still comes first


@pytest.mark.parametrize("shards", [1, 4])
def test_at_the_hard_quota_the_random_slice_stays_capped_and_the_reason_is_the_quota(shards: int) -> None:
    quotas = QUOTAS.model_copy(update={"max_hard_per_day": 40 * shards})
    router = ShardedRouter(quotas, shards=shards)
    stock(router, TOP_SCORE=800, RANDOM_SLICE=800, QA_GOLD=80)
    kinds = Counter(a["kind"] for a in work(router, "ann", 1000))
    total = sum(kinds.values())
    assert kinds["HARD"] == 40 * shards  # the quota is used...
    assert kinds["RANDOM"] <= math.ceil(quotas.max_random_share * total) + shards  # ...and nothing floods in
    assert kinds["QA"] <= quotas.qa_rate * total + shards
    assert {shard.annotators["ann"].last_ready.reason for shard in router.shards} == {reasons.HARD_QUOTA}


def test_qa_gold_never_fills_in_and_the_readiness_gap_has_a_reason() -> None:
    router = ShardedRouter(QUOTAS, shards=1)
    stock(router, TOP_SCORE=400, QA_GOLD=400)  # no normal and no random-slice work at all
    kinds = [a["kind"] for a in work(router, "ann", 400)]
    # QA gold stays on its schedule, so nothing keeps the normal share and hard work stops early.
    assert Counter(kinds)["QA"] <= scheduled(QUOTAS.qa_rate, len(kinds), 1.0)
    assert len(kinds) < 40
    assert router.unserved[reasons.NORMAL_SHARE] >= 1
    assert router.shards[0].annotators["ann"].last_ready.reason == reasons.NORMAL_SHARE


def test_a_shortage_is_not_made_up_by_a_burst_beyond_the_schedule() -> None:
    router = ShardedRouter(QUOTAS, shards=1)
    stock(router, TOP_SCORE=300, SHIFT_REVIEW=300)
    before = work(router, "ann", 100)  # QA gold arrives only after 100 assignments
    assert not any(a["kind"] == "QA" for a in before)
    stock(router, QA_GOLD=50)
    after = [a["kind"] for a in work(router, "ann", 100)]
    n_total = len(before) + len(after)
    assert Counter(after)["QA"] <= scheduled(QUOTAS.qa_rate, n_total, 1.0)
    assert Counter(after)["QA"] >= math.floor(QUOTAS.qa_rate * n_total) - 1  # caught up within schedule


def test_phases_stagger_shards_so_together_they_follow_one_schedule() -> None:
    for shards in (1, 2, 4, 12):
        for annotator in ("a", "b", "c"):
            phases = [MixPhase.of(annotator, shard=k, shards=shards).qa for k in range(shards)]
            assert all(0 <= phase < 1 for phase in phases)
            u = phases[0] * shards
            for n in range(200):
                together = sum(scheduled(0.05, n, phase) for phase in phases)
                assert together == math.floor(0.05 * n * shards + u + 1e-9)


def test_plan_names_the_rule_that_holds_each_source_back() -> None:
    capped = Quotas(version="p", max_hard_per_day=3, min_normal_share=0.0, qa_rate=0.0, random_share=0.0)
    mix = plan(
        MixCounts(total=5, hard=3, random=0, qa=0), capped.model_copy(update={"max_random_share": 0.0})
    )
    assert mix.blocked == {HARD: reasons.HARD_QUOTA, QA: reasons.MIX_SHARE, RANDOM: reasons.MIX_SHARE}
    share = plan(MixCounts(total=0, hard=0, random=0, qa=0), QUOTAS, MixPhase(qa=0.0, random=0.0))
    assert share.blocked[HARD] == reasons.NORMAL_SHARE and HARD not in share.order


quotas_strategy = st.builds(
    Quotas,
    version=st.just("prop-1"),
    max_hard_per_day=st.integers(0, 60),
    min_normal_share=st.floats(0.0, 0.9),
    random_share=st.floats(0.0, 0.3),
    qa_rate=st.floats(0.0, 0.2),
    max_random_share=st.floats(0.3, 0.6),
    overlap_fraction=st.floats(0.0, 0.3),
    max_in_flight=st.integers(1, 12),
)
supply = st.lists(
    st.tuples(
        st.sampled_from(["TOP_SCORE", "SHIFT_REVIEW", "RANDOM_SLICE", "QA_GOLD", "FRESH_POOL"]),
        st.integers(0, 15),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=int(os.environ.get("ROUTER_PROPERTY_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(quotas=quotas_strategy, shards=st.integers(1, 3), waves=supply, hours=st.integers(1, 30))
def test_shares_stay_within_their_caps_whatever_the_supply(
    quotas: Quotas, shards: int, waves: list[tuple[str, int]], hours: int
) -> None:
    """On every shard, whenever it gives QA gold / random-slice / hard work: QA within its schedule, the
    random slice within its cap, hard work within the quota and the normal share (counted over the
    annotator's rolling day on that shard, including the item given)."""
    router = ShardedRouter(quotas, shards=shards)
    serial = 0
    for reason, count in waves:
        for _ in range(count):
            serial += 1
            router.add(f"{reason}-{serial}", reason, score=(serial * 37 % 101) / 100)
        for annotator in ("a", "b"):
            work(router, annotator, 15, ready_for=3)
        router.tick(hours * 3600 / len(waves))
    by_shard: dict[tuple[str, int], list[tuple[int, str]]] = {}
    for assignment in router.produced:
        shard = router.shard_of(assignment["item_id"]).shard
        at = int(assignment["assigned_at"].timestamp() * 1000)
        source = SOURCE_OF_REASON[assignment["item_id"].rsplit("-", 1)[0]]  # kind may be OVERLAP
        day = by_shard.setdefault((assignment["annotator_id"], shard), [])
        day.append((at, source))
        window = [kind for t, kind in day if at - DAY_MS < t <= at]
        n, sources = len(window), Counter(window)
        cap = router.shards[shard].shard_quotas
        # Checked when an item of the source is given, counting it: old work sliding out of the rolling
        # day can raise a share between assignments, and then no more of that source is given until it
        # is back within bounds.
        if source == QA:
            assert sources[QA] <= math.ceil(cap.qa_rate * n - 1e-9), "QA gold above its schedule"
        if source == RANDOM:
            assert sources[RANDOM] <= math.ceil(cap.max_random_share * n - 1e-9), "random slice above its cap"
        if source == HARD:
            assert sources[HARD] <= cap.max_hard_per_day, "hard quota exceeded"
            assert (n - sources[HARD]) >= cap.min_normal_share * n - 1e-9, "normal share too low"
