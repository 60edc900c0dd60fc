"""No idle gap after a restart: an annotator who keeps sending READY while the router is SIGKILLed and
restarted gets new work as soon as the router serves again. Measured without a clock: the READYs the
annotator sent after the restarted router logged that it serves its shards, before its first new
assignment, are counted (one READY every half second: a bound of 10 is the 5 s an annotator may wait
at most)."""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alstream.annotation.client import AnnotationClient
from alstream.settings import AlstreamSettings
from alstream.streams.partitioning import partition_for
from tests.support.router_process import live_candidate, produce_candidates, serving, start_router, stop
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

QUOTAS = """version = "gap-1"
max_hard_per_day = 400
min_normal_share = 0.0
qa_rate = 0.0
overlap_fraction = 0.0
max_in_flight = 60
lease_seconds = 600
"""
READY_EVERY_S = 0.5
MAX_READIES_AFTER_SERVING = 10


def test_annotators_get_work_as_soon_as_a_restarted_router_serves(
    topics: AlstreamSettings, tmp_path: Path
) -> None:
    settings = topics
    shards = 2  # the topics fixture's partition count
    quotas = tmp_path / "quotas.toml"
    quotas.write_text(QUOTAS)
    env = {"ALSTREAM_PATHS__QUOTAS_FILE": str(quotas), "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state")}
    items = [live_candidate(f"g-{i}", "TOP_SCORE") for i in range(60)]
    assert {partition_for(c["item_id"], shards) for c in items} == set(range(shards))
    produce_candidates(settings, items)
    log = tmp_path / "router.log"
    router = start_router(log, env, log_level="INFO")
    received: list[dict[str, Any]] = []
    with AnnotationClient(settings=settings, annotator_id="eager") as client:

        def ask_and_collect() -> bool:
            client.ready(1)
            received.extend(client.assignments(timeout_s=READY_EVERY_S))
            return bool(received)

        try:
            wait_until(ask_and_collect, timeout_s=90, what="work before the crash", interval_s=0)
            router.send_signal(signal.SIGKILL)
            router.wait(timeout=10)
            killed_at = datetime.now(tz=UTC)
            serving_before = len(serving(log))
            router = start_router(log, env, log_level="INFO")
            after_serving = [0]  # READYs sent once the restarted router said it serves

            def ask_until_new_work() -> bool:
                if len(serving(log)) > serving_before:
                    after_serving[0] += 1
                ask_and_collect()
                return any(a["assigned_at"] > killed_at for a in received)  # decided by the new process

            wait_until(
                ask_until_new_work,
                timeout_s=120,
                what="new work after the restart",
                interval_s=0,
                diagnose=lambda: log.read_text(errors="replace")[-3000:],
            )
        finally:
            exit_code = stop(router)
    assert len(serving(log)) > serving_before, "the restarted router said when it served"
    assert after_serving[0] <= MAX_READIES_AFTER_SERVING, (
        f"{after_serving[0]} READYs went unanswered after the router served again"
    )
    assert exit_code == 0
