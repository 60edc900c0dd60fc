"""A real router on the embedded broker, watched from the outside: `alstream status`, /metrics, calibration.

- `alstream status` names why an idle annotator gets no work when the pool holds only hard work and
  the annotator used their hard quota.
- Re-sent leases after a restart are not counted as new assignments.
- A calibration label completes its lease; a round naming an unknown item is refused and counted.

The router serves /metrics on its default port (metrics.base_port + 2), with the base moved to a free
block, as the README's several-agents-on-one-host recipe runs it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from alstream.annotation.client import AnnotationClient
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import codec_for
from alstream.streams.kafka_config import producer_config
from alstream.streams.partitioning import partition_for
from tests.support import records
from tests.support.ports import free_port_block
from tests.support.router_process import live_candidate, produce_candidates, start_router, stop
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]
ROUTER_PORT_OFFSET = 2


def quotas_file(tmp_path: Path, **values: Any) -> Path:
    base = {
        "version": "status-1",
        "max_hard_per_day": 2,
        "min_normal_share": 0.0,
        "random_share": 0.0,
        "max_random_share": 0.0,
        "qa_rate": 0.0,
        "overlap_fraction": 0.0,
        "max_in_flight": 20,
        "lease_seconds": 600,
    }
    base.update(values)
    path = tmp_path / "quotas.toml"
    path.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in base.items()))
    return path


def spread_ids(prefix: str, per_partition: int, partitions: int = 2) -> list[str]:
    """Item ids with ``per_partition`` on each partition (so every router shard holds some)."""
    chosen: dict[int, list[str]] = {p: [] for p in range(partitions)}
    n = 0
    while any(len(ids) < per_partition for ids in chosen.values()):
        item = f"{prefix}-{n}"
        n += 1
        bucket = chosen[partition_for(item, partitions)]
        if len(bucket) < per_partition:
            bucket.append(item)
    return [item for ids in chosen.values() for item in ids]


def scrape(port: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]] | None:
    """name -> {labels: value} of the /metrics page, or None while the endpoint does not answer."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def total(samples: dict[str, Any] | None, name: str, **labels: str) -> float:
    if not samples:
        return 0.0
    wanted = set(labels.items())
    return sum(v for key, v in samples.get(name, {}).items() if wanted <= set(key))


def status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alstream.cli.main", "status", *args],
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def default_ports(monkeypatch: pytest.MonkeyPatch) -> int:
    """Agents started by the test pick their default ports from a free block (no ALSTREAM_METRICS__PORT)."""
    base = free_port_block(6)
    monkeypatch.delenv("ALSTREAM_METRICS__PORT", raising=False)
    monkeypatch.setenv("ALSTREAM_METRICS__BASE_PORT", str(base))
    return base


def test_status_names_the_hard_quota_of_an_idle_annotator(
    topics: AlstreamSettings, tmp_path: Path, default_ports: int
) -> None:
    hard = spread_ids("hard", per_partition=4)
    produce_candidates(topics, [live_candidate(item, "TOP_SCORE") for item in hard])
    log = tmp_path / "router.log"
    env = {
        "ALSTREAM_PATHS__QUOTAS_FILE": str(quotas_file(tmp_path)),
        "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state"),
        "ALSTREAM_ROUTER__TICK_INTERVAL_S": "0.5",
    }
    router = start_router(log, env)
    try:
        with AnnotationClient(settings=topics, annotator_id="ann-idle") as client:
            client.online()
            got: list[dict[str, Any]] = []

            def quota_used() -> bool:
                client.ready(5)
                got.extend(client.assignments(timeout_s=1.0))
                return len(got) >= 2

            wait_until(
                quota_used, timeout_s=120, what="the two hard items of the quota", diagnose=log.read_text
            )
            for assignment in got:
                client.submit(assignment, value="cat", started_at=datetime.now(tz=UTC))
            client.flush()

            def idle_with_reason() -> dict[str, Any] | None:
                client.ready(5)
                assert client.assignments(timeout_s=0.5) == []
                done = status("--json")
                report = json.loads(done.stdout)
                mine = [a for a in report["annotators"] if a["annotator_id"] == "ann-idle"]
                if mine and mine[0]["state"] == "idle" and mine[0]["in_flight"] == 0:
                    return report
                return None

            report = wait_until(
                idle_with_reason,
                timeout_s=120,
                interval_s=1.0,
                what="ann-idle idle in `alstream status --json`",
                diagnose=lambda: status().stdout + log.read_text()[-3000:],
            )
        [view] = [a for a in report["annotators"] if a["annotator_id"] == "ann-idle"]
        assert view["reason"] == "hard_quota" and view["reasons"] == {"hard_quota": 2}
        assert view["hard_in_day"] == 2 == view["hard_cap"]
        assert report["pool"]["depth"]["TOP_SCORE"] == len(hard) - 2  # only hard work waits
        assert report["broker"]["reachable"] is True
        [router_row] = [a for a in report["agents"] if a["agent"] == "router"]
        assert router_row["up"] is True
        assert router_row["url"].endswith(f":{default_ports + ROUTER_PORT_OFFSET}/metrics")
        topic_rows = {row["topic"]: row for row in report["topics"]}
        assert topic_rows[topics.kafka.topic("router-status")]["partitions"] == 2
        assert {row["topic"] for row in report["lag"] if row["agent"] == "router"} == {
            topics.kafka.topic(base) for base in ("candidates", "annotator-events", "labels")
        }

        screen = status()
        assert screen.returncode == 0, screen.stderr
        line = next(line for line in screen.stdout.splitlines() if "ann-idle" in line)
        assert "idle" in line and "hard_quota" in line, screen.stdout

        metrics = scrape(default_ports + ROUTER_PORT_OFFSET)
        assert total(metrics, "alstream_router_ready_unserved_total", reason="hard_quota") >= 2
        router_port = default_ports + ROUTER_PORT_OFFSET
        wait_until(
            lambda: (
                total(scrape(router_port), "alstream_router_annotators_at_quota") == 1
                and total(scrape(router_port), "alstream_router_annotators_idle", reason="hard_quota") == 1
            ),
            timeout_s=30,
            what="annotators_at_quota and annotators_idle{reason=hard_quota} to count ann-idle",
        )
    finally:
        assert stop(router) == 0, log.read_text()[-3000:]


def test_resent_leases_are_not_new_assignments(
    topics: AlstreamSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    items = spread_ids("normal", per_partition=3)
    produce_candidates(topics, [live_candidate(item, "SHIFT_REVIEW") for item in items])
    log = tmp_path / "router.log"
    base = free_port_block(6)
    env = {
        "ALSTREAM_PATHS__QUOTAS_FILE": str(quotas_file(tmp_path)),
        "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state"),
        "ALSTREAM_ROUTER__TICK_INTERVAL_S": "0.5",
        "ALSTREAM_METRICS__PORT": str(base + 1),
    }
    router = start_router(log, env)
    try:
        with AnnotationClient(settings=topics, annotator_id="ann-r") as client:
            client.online()
            got: list[dict[str, Any]] = []

            def all_assigned() -> bool:
                client.ready(10)
                got.extend(client.assignments(timeout_s=1.0))
                return len(got) >= len(items)

            wait_until(all_assigned, timeout_s=120, what="every item assigned", diagnose=log.read_text)
        assert total(scrape(base + 1), "alstream_router_assignments_total") == len(items)
    finally:
        assert stop(router) == 0, log.read_text()[-3000:]
    router = start_router(log, {**env, "ALSTREAM_METRICS__PORT": str(base + 2)})
    try:
        samples = wait_until(
            lambda: (
                (s := scrape(base + 2))
                and total(s, "alstream_router_assignments_resent_total") >= len(items)
                and s
            ),
            timeout_s=120,
            what="the open leases re-sent after the restart",
            diagnose=lambda: log.read_text()[-3000:],
        )
        assert total(samples, "alstream_router_assignments_resent_total") == len(items)
        assert total(samples, "alstream_router_assignments_total") == 0  # no new decision was made
    finally:
        assert stop(router, signal.SIGTERM) == 0, log.read_text()[-3000:]


def test_calibration_labels_complete_their_leases_and_unknown_items_are_refused(
    topics: AlstreamSettings, tmp_path: Path
) -> None:
    contested = spread_ids("contested", per_partition=3)
    produce_candidates(topics, [live_candidate(item, "TOP_SCORE") for item in contested])
    log = tmp_path / "router.log"
    port = free_port_block(1) + 1
    env = {
        "ALSTREAM_PATHS__QUOTAS_FILE": str(
            quotas_file(tmp_path, max_hard_per_day=100, overlap_fraction=1.0, overlap_k=2)
        ),
        "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state"),
        "ALSTREAM_ROUTER__TICK_INTERVAL_S": "0.5",
        "ALSTREAM_METRICS__PORT": str(port),
    }
    router = start_router(log, env)
    try:
        clients = [AnnotationClient(settings=topics, annotator_id=f"ann-{n}") for n in (1, 2)]
        try:
            for client in clients:
                client.online()
                got: list[dict[str, Any]] = []

                def overlap_done(client: AnnotationClient = client, got: list[dict[str, Any]] = got) -> bool:
                    client.ready(10)
                    got.extend(client.assignments(timeout_s=1.0))
                    return len(got) >= len(contested)

                wait_until(overlap_done, timeout_s=120, what="the overlapped items", diagnose=log.read_text)
                assert {a["kind"] for a in got} == {"OVERLAP"}
                for assignment in got:
                    client.submit(assignment, value="cat", started_at=datetime.now(tz=UTC))
            event = records.calibration(
                "cal-it",
                item_ids=[*contested, "forged-item"],
                annotator_ids=["ann-1"],
                detected_at=datetime.now(tz=UTC),
            )
            producer = Producer(producer_config(topics))
            producer.produce(
                topics.kafka.topic("calibration"),
                key=b"cal-it",
                value=codec_for("calibration", topics).encode(event),
            )
            assert producer.flush(10) == 0
            calibration: list[dict[str, Any]] = []

            def calibration_work() -> bool:
                clients[0].ready(10)
                calibration.extend(
                    a for a in clients[0].assignments(timeout_s=1.0) if a["kind"] == "CALIBRATION"
                )
                return len(calibration) >= len(contested)

            wait_until(
                calibration_work, timeout_s=120, what="the calibration assignments", diagnose=log.read_text
            )
            assert sorted(a["item_id"] for a in calibration) == sorted(contested)
            completed_before = total(scrape(port), "alstream_router_labels_total", outcome="completed")
            for assignment in calibration:
                clients[0].submit(assignment, value="dog", started_at=datetime.now(tz=UTC))
        finally:
            for client in clients:
                client.close()
        wait_until(
            lambda: (
                total(scrape(port), "alstream_router_labels_total", outcome="completed")
                >= completed_before + len(contested)
            ),
            timeout_s=60,
            what="every calibration label to complete its lease",
            diagnose=lambda: log.read_text()[-3000:],
        )
        metrics = scrape(port)
        assert total(metrics, "alstream_router_labels_total", outcome="ignored") == 0
        assert total(metrics, "alstream_router_calibration_refused_total", reason="unknown_item") == 1
    finally:
        assert stop(router) == 0, log.read_text()[-3000:]
