"""The annotation-tool contract for annotator events (docs/annotation-tool-contract.md), from outside:
a third-party tool that sends ONE READY keyed by its annotator id (a plain librdkafka producer, default
partitioner) gets work from every shard; a tool that still broadcasts (the deprecated form) is served
once per shard, not twice (the shards dedupe the router's copy by event_id)."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Producer

from alstream.settings import AlstreamSettings
from alstream.streams.codecs import codec_for
from alstream.streams.kafka_config import producer_config
from alstream.streams.partitioning import partition_for
from alstream.streams.topics import create_topics
from tests.support.router_process import (
    TopicReader,
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
QUOTAS = """version = "keyed-1"
max_hard_per_day = 400
min_normal_share = 0.0
qa_rate = 0.0
overlap_fraction = 0.0
max_in_flight = 40
lease_seconds = 600
"""


def ready(annotator: str, *, ready_for: int) -> dict[str, object]:
    return {
        "event_id": uuid.uuid4().hex,
        "annotator_id": annotator,
        "event_type": "READY",
        "ready_for": ready_for,
        "skills": [],
        "group": None,
        "occurred_at": datetime.now(tz=UTC),
    }


def test_one_keyed_ready_gets_work_from_every_shard_and_a_broadcast_is_served_once(
    settings: AlstreamSettings, tmp_path: Path
) -> None:
    create_topics(settings, partitions_override=SHARDS)
    quotas = tmp_path / "quotas.toml"
    quotas.write_text(QUOTAS)
    env = {"ALSTREAM_PATHS__QUOTAS_FILE": str(quotas), "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state")}
    items = [live_candidate(f"kx-{i}", "TOP_SCORE") for i in range(80)]
    shards_with_items = {partition_for(c["item_id"], SHARDS) for c in items}
    assert shards_with_items == set(range(SHARDS))  # the premise: every shard has work to give
    produce_candidates(settings, items)
    log = tmp_path / "router.log"
    router = start_router(log, env, log_level="INFO")
    assignments = TopicReader(settings, "assignments")
    events_topic = settings.kafka.topic("annotator-events")
    codec = codec_for("annotator-events", settings)
    tool = Producer(producer_config(settings))  # what any third-party tool has: a default producer
    try:
        wait_until(lambda: serving(log), timeout_s=90, what="the router serving", diagnose=tail_of(log))
        # The keyed form: one record, key = annotator id, no partition chosen by the tool.
        tool.produce(events_topic, key=b"third-party", value=codec.encode(ready("third-party", ready_for=2)))
        # The deprecated form: the same event (one event_id) on every partition.
        legacy = codec.encode(ready("legacy-tool", ready_for=2))
        for partition in range(SHARDS):
            tool.produce(events_topic, key=b"legacy-tool", value=legacy, partition=partition)
        assert tool.flush(30) == 0

        def per_shard(annotator: str) -> Counter[int]:
            return Counter(
                partition_for(a["item_id"], SHARDS)
                for a in assignments.read("assignment_id").values()
                if a["annotator_id"] == annotator
            )

        wait_until(
            lambda: set(per_shard("third-party")) == set(range(SHARDS)),
            timeout_s=60,
            what="work for the keyed READY from every shard",
            diagnose=tail_of(log),
        )
        wait_until(
            lambda: set(per_shard("legacy-tool")) == set(range(SHARDS)),
            timeout_s=60,
            what="work for the broadcast READY from every shard",
            diagnose=tail_of(log),
        )
        # A later keyed READY served by every shard proves the earlier copies were all handled there
        # (each partition is read in order), so the counts below are final.
        tool.produce(events_topic, key=b"marker", value=codec.encode(ready("marker", ready_for=1)))
        assert tool.flush(30) == 0
        wait_until(
            lambda: set(per_shard("marker")) == set(range(SHARDS)),
            timeout_s=60,
            what="the marker's work from every shard",
            diagnose=tail_of(log),
        )
    finally:
        exit_code = stop(router)
    assert per_shard("third-party") == dict.fromkeys(range(SHARDS), 2)  # each shard answered ready_for once
    assert per_shard("legacy-tool") == dict.fromkeys(range(SHARDS), 2)  # not 4: the copy was a duplicate
    assert exit_code == 0
