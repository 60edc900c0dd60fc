"""Two (and four) router workers over the same partitions, one SIGKILLed under load: its shards move to
the others, which restore them (checkpoint + changelog) and keep serving; afterwards no annotator is over
quota, no item went twice to one annotator and no candidate was lost."""

from __future__ import annotations

import signal
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from alstream.settings import AlstreamSettings
from alstream.streams.topics import create_topics
from tests.support.router_process import (
    TopicReader,
    annotate,
    live_candidate,
    produce_candidates,
    serving,
    start_router,
    stop,
    tail_of,
)
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

SHARDS = 4
MAX_HARD = 12  # 3 per shard
QUOTAS = f"""version = "scale-1"
max_hard_per_day = {MAX_HARD}
min_normal_share = 0.3
random_share = 0.15
qa_rate = 0.0
overlap_fraction = 0.0
max_in_flight = 8
lease_seconds = 600
"""


@pytest.fixture
def four_shards(settings: AlstreamSettings) -> AlstreamSettings:
    create_topics(settings, partitions_override=SHARDS)
    return settings


@pytest.mark.parametrize("workers", [2, 4])
def test_workers_one_killed_keep_quotas_leases_and_candidates(
    workers: int, four_shards: AlstreamSettings, tmp_path: Path
) -> None:
    settings = four_shards
    quotas = tmp_path / "quotas.toml"
    quotas.write_text(QUOTAS)
    # One state directory for both workers (one host): the survivor finds the victim's checkpoints.
    env = {"ALSTREAM_PATHS__QUOTAS_FILE": str(quotas), "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state")}
    reasons = ["TOP_SCORE"] * 16 + ["SHIFT_REVIEW"] * 24 + ["RANDOM_SLICE"] * 8
    items = [live_candidate(f"s-{i}", reason, score=(i % 10) / 10) for i, reason in enumerate(reasons)]
    hard_items = {c["item_id"] for c in items if c["reason"] == "TOP_SCORE"}
    truth = tmp_path / "truth.csv"
    truth.write_text("item_id,label\n" + "".join(f"{c['item_id']},dog\n" for c in items))
    produce_candidates(settings, items)

    logs = [tmp_path / f"router-{n}.log" for n in range(workers)]
    routers = [start_router(log, env, log_level="INFO") for log in logs]

    def balanced() -> bool:
        """Every worker serves, and between them every shard exactly once (the group settled)."""
        latest = [serving(log)[-1] if serving(log) else [] for log in logs]
        return all(latest) and sorted(shard for shards in latest for shard in shards) == list(range(SHARDS))

    wait_until(
        balanced, timeout_s=120, what=f"{workers} workers sharing the four shards", diagnose=tail_of(logs[-1])
    )
    victim_shards = serving(logs[-1])[-1]
    annotators = [annotate(f"ann-{n}", truth, tmp_path / f"ann-{n}.log") for n in range(3)]
    assignments = TopicReader(settings, "assignments")
    try:
        wait_until(
            lambda: len(assignments.read("assignment_id")) >= 10,
            timeout_s=90,
            what="assignments from both workers before the kill",
            diagnose=tail_of(logs[0]),
        )
        routers[-1].send_signal(signal.SIGKILL)
        routers[-1].wait(timeout=10)
        logged_before_kill = [log.stat().st_size for log in logs[:-1]]
        late = [live_candidate(f"late-{i}", "SHIFT_REVIEW") for i in range(8)]
        produce_candidates(settings, late)  # some land on the dead worker's shards
        truth.write_text(truth.read_text() + "".join(f"{c['item_id']},cat\n" for c in late))

        def taken_over() -> bool:
            """The survivors serve every shard between them, the dead worker's included."""
            latest = [serving(log)[-1] if serving(log) else [] for log in logs[:-1]]
            served = sorted(shard for shards in latest for shard in shards)
            return served == list(range(SHARDS))

        wait_until(
            taken_over, timeout_s=120, what="the survivors serving every shard", diagnose=tail_of(logs[0])
        )
        all_items = {c["item_id"] for c in items + late}
        wait_until(
            lambda: all_items <= {a["item_id"] for a in assignments.read("assignment_id").values()},
            timeout_s=120,
            what="every candidate assigned after the rebalance",
            diagnose=tail_of(logs[0]),
        )
    finally:
        for process in annotators:
            stop(process)
        exit_codes = [stop(router) for router in routers]
    assert victim_shards, "the killed worker served shards before it died"
    assert all(code == 0 for code in exit_codes[:-1])
    by_annotator: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for assignment in assignments.read("assignment_id").values():
        by_annotator[assignment["annotator_id"]].append(assignment)
    assert len(by_annotator) == 3
    for annotator, work in by_annotator.items():
        item_ids = [a["item_id"] for a in work]
        assert len(item_ids) == len(set(item_ids)), f"{annotator} got an item twice"
        assert sum(1 for i in item_ids if i in hard_items) <= MAX_HARD, f"{annotator} over the hard quota"
    restored = "\n".join(
        log.read_bytes()[size:].decode(errors="replace")
        for log, size in zip(logs[:-1], logged_before_kill, strict=True)
    )
    for shard in victim_shards:  # after the kill, a survivor restored each moved shard before serving it
        assert f"router shard {shard} restored in" in restored
