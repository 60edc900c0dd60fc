"""The router on the embedded broker: READY gets assignments, labels complete leases, quotas hold."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from alstream.annotation.client import AnnotationClient
from alstream.settings import AlstreamSettings
from alstream.streams.dead_letters import error_headers
from alstream.streams.kafka_config import consumer_config, producer_config
from tests.support.router_process import live_candidate, produce_candidates, start_router, stop
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]


def test_ready_gets_assignments_keyed_by_annotator(topics: AlstreamSettings, tmp_path: Path) -> None:
    quotas = tmp_path / "quotas.toml"
    quotas.write_text(
        'version = "it-1"\nmax_hard_per_day = 4\nmin_normal_share = 0.0\nrandom_share = 0.0\nqa_rate = 0.0\n'
        "overlap_fraction = 0.0\nmax_in_flight = 20\n"
    )
    settings = topics
    items = [live_candidate(f"item-{i}", "TOP_SCORE", score=i / 100) for i in range(30)]
    produce_candidates(settings, items)
    router = start_router(
        tmp_path / "router.log",
        {"ALSTREAM_PATHS__QUOTAS_FILE": str(quotas), "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state")},
    )
    try:
        with AnnotationClient(settings=settings, annotator_id="ann-1") as client:
            client.online()
            got: list[dict] = []

            def more() -> bool:
                client.ready(10)
                got.extend(client.assignments(timeout_s=1.0))
                return len(got) >= 4

            wait_until(more, timeout_s=90, what="4 assignments", interval_s=0.5)
            assert all(a["annotator_id"] == "ann-1" and a["quota_version"] == "it-1" for a in got)
            assert len({a["item_id"] for a in got}) == len(got)
            client.ready(10)
            assert client.assignments(timeout_s=3.0) == []  # the hard quota (4 a day, 2 per shard) is used
            for a in got:
                client.submit(a, value="cat", started_at=datetime.now(tz=UTC))
        producer = Producer(producer_config(settings))
        producer.produce(settings.kafka.topic("candidates"), key=b"bad", value=b"not avro")
        assert producer.flush(10) == 0
        dead = Consumer(consumer_config(settings, group_id=f"dlq-{tmp_path.name}"))
        dead.subscribe([settings.kafka.topic("dead-letters")])
        try:
            letters = wait_until(
                lambda: [m for m in dead.consume(100, timeout=1.0) if not m.error()],
                timeout_s=60,
                what="the bad candidate on the dead-letter topic",
            )
        finally:
            dead.close()
        assert error_headers(letters[0].headers())["agent"] == "router" and letters[0].key() == b"bad"
        assert router.poll() is None
    finally:
        assert stop(router) == 0, (tmp_path / "router.log").read_text()[-3000:]
