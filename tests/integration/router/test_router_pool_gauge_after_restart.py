"""A router killed after it pooled candidates must, once restarted, report the pool it restored from its
changelog - even when every replayed candidate was already applied and no new candidate arrives.
(The fault campaign once read an absent gauge as an empty pool: 565 candidates looked lost.)"""

from __future__ import annotations

import signal
import urllib.request
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from alstream.settings import AlstreamSettings
from alstream.streams.embedded_broker import free_port
from alstream.streams.kafka_config import consumer_config
from tests.support.router_process import live_candidate, produce_candidates, start_router, stop
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def pool_depth(port: int) -> float | None:
    """Sum of the pool-depth gauge over reasons; None while the endpoint is down or has no sample yet."""
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    samples = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("alstream_router_pool_depth{")
    ]
    return sum(samples) if samples else None


def committed_candidates(settings: AlstreamSettings) -> int:
    """Candidates the router's group committed as handled (read without joining the group)."""
    consumer = Consumer(consumer_config(settings, group_id=settings.kafka.group_id(settings.router.group_id)))
    try:
        topic = settings.kafka.topic("candidates")
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        committed = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
        return sum(max(0, tp.offset) for tp in committed)
    finally:
        consumer.close()


def test_restarted_router_reports_its_restored_pool(topics: AlstreamSettings, tmp_path: Path) -> None:
    quotas = tmp_path / "quotas.toml"
    quotas.write_text('version = "gauge-1"\nmax_hard_per_day = 5\n')
    items = [live_candidate(f"g-{i}", "SHIFT_REVIEW") for i in range(20)]
    produce_candidates(topics, items)
    env = {
        "ALSTREAM_PATHS__QUOTAS_FILE": str(quotas),
        "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state"),
        "ALSTREAM_ROUTER__TICK_INTERVAL_S": "0.5",
    }

    port = free_port()
    router = start_router(tmp_path / "router.log", {**env, "ALSTREAM_METRICS__PORT": str(port)})
    try:
        wait_until(lambda: pool_depth(port) == len(items), timeout_s=90, what="all candidates pooled")
        # committed, so the restart replays nothing: the pool it reports is the one it restored
        wait_until(
            lambda: committed_candidates(topics) >= len(items), timeout_s=60, what="the candidates committed"
        )
    finally:
        router.send_signal(signal.SIGKILL)
        router.wait(timeout=10)

    port = free_port()
    router = start_router(tmp_path / "router.log", {**env, "ALSTREAM_METRICS__PORT": str(port)})
    try:
        # Shards restore one by one, so wait for the whole pool; more than was pooled would be a failure too.
        wait_until(
            lambda: (pool_depth(port) or 0) >= len(items),
            timeout_s=90,
            what="the restored pool in the pool-depth gauge",
        )
        assert pool_depth(port) == len(items), (tmp_path / "router.log").read_text()[-3000:]
    finally:
        assert stop(router) == 0
