"""SIGKILL under load: simulated annotators (`alstream annotate --auto`) keep labeling across a router
crash; afterwards nobody is over quota, no item went twice to one annotator and no candidate was lost."""

from __future__ import annotations

import signal
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from alstream.settings import AlstreamSettings
from tests.support.router_process import (
    TopicReader,
    annotate,
    live_candidate,
    produce_candidates,
    start_router,
    stop,
    tail_of,
)
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

MAX_HARD = 10
QUOTAS = f"""version = "kill-1"
max_hard_per_day = {MAX_HARD}
min_normal_share = 0.3
random_share = 0.15
qa_rate = 0.0
overlap_fraction = 0.0
max_in_flight = 6
lease_seconds = 600
"""


@pytest.mark.parametrize("transactions", [False, True], ids=["write-order", "transactions"])
def test_sigkill_under_load_keeps_quotas_and_candidates(
    transactions: bool, topics: AlstreamSettings, tmp_path: Path
) -> None:
    """With the crash-safe write order alone, and with each batch in one Kafka transaction."""
    settings = topics
    quotas = tmp_path / "quotas.toml"
    quotas.write_text(QUOTAS)
    env = {
        "ALSTREAM_PATHS__QUOTAS_FILE": str(quotas),
        "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state"),
        "ALSTREAM_ROUTER__TRANSACTIONS": str(transactions).lower(),
        "ALSTREAM_ROUTER__INSTANCE_ID": "router-a",  # the restarted process is the same replica
    }
    reasons = ["TOP_SCORE"] * 12 + ["SHIFT_REVIEW"] * 20 + ["RANDOM_SLICE"] * 8
    items = [live_candidate(f"k-{i}", reason, score=(i % 10) / 10) for i, reason in enumerate(reasons)]
    hard_items = {c["item_id"] for c in items if c["reason"] == "TOP_SCORE"}
    truth = tmp_path / "truth.csv"
    truth.write_text("item_id,label\n" + "".join(f"{c['item_id']},dog\n" for c in items))
    produce_candidates(settings, items)

    router_log = tmp_path / "router.log"
    # INFO: a failure then shows the restores and rebalances in its message
    router = start_router(router_log, env, log_level="INFO")
    annotators = [annotate(f"ann-{n}", truth, tmp_path / f"ann-{n}.log") for n in range(3)]
    assignments = TopicReader(settings, "assignments")
    try:
        wait_until(
            lambda: len(assignments.read("assignment_id")) >= 8,
            timeout_s=90,
            what="assignments before the crash",
            diagnose=tail_of(router_log),
        )
        router.send_signal(signal.SIGKILL)
        router.wait(timeout=10)
        more = [live_candidate(f"late-{i}", "SHIFT_REVIEW") for i in range(5)]
        produce_candidates(settings, more)  # arrives while the router is down
        truth.write_text(truth.read_text() + "".join(f"{c['item_id']},cat\n" for c in more))
        router = start_router(router_log, env, log_level="INFO")
        all_items = {c["item_id"] for c in items + more}
        wait_until(
            lambda: all_items <= {a["item_id"] for a in assignments.read("assignment_id").values()},
            timeout_s=120,
            what="every candidate assigned after the restart",
            diagnose=tail_of(router_log),
        )
    finally:
        for process in annotators:
            stop(process)
        exit_code = stop(router)
    by_annotator: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for assignment in assignments.read("assignment_id").values():
        by_annotator[assignment["annotator_id"]].append(assignment)
    for annotator, work in by_annotator.items():
        item_ids = [a["item_id"] for a in work]
        assert len(item_ids) == len(set(item_ids)), f"{annotator} got an item twice"
        assert sum(1 for i in item_ids if i in hard_items) <= MAX_HARD, f"{annotator} over the hard quota"
    assert exit_code == 0
    assert ("commits in one transaction" in router_log.read_text()) is transactions
    summaries = [(tmp_path / f"ann-{n}.log").read_text() for n in range(3)]
    assert all("annotator=ann-" in text and "labeled=" in text for text in summaries), summaries
    labels = TopicReader(settings, "labels").read("label_id")
    assert labels and all(label["submitted_at"] >= label["started_at"] for label in labels.values())
