"""Two deployments on one cluster (different topic prefixes, the same settings otherwise) never share a
consumer group: each one's scorer joins ``<prefix>alstream-scorer``, gets its own topic's partitions and
scores every item, and commits under its own group only."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from alstream.agents.scorer.main import run
from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.replay import committed_offsets
from alstream.streams.stopping import StopFlag
from alstream.streams.topics import create_topics
from tests.integration.scorer.test_scorer_broker import TopicReader, produce_items, write_policy
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker

ITEMS = 200


def deployment(prefix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AlstreamSettings:
    """Settings of one deployment: the default consumer group ids, its own prefix and state."""
    monkeypatch.delenv("ALSTREAM_SCORER__GROUP_ID", raising=False)
    state = tmp_path / prefix.strip(".")
    state.mkdir()
    environ = {
        "ALSTREAM_KAFKA__TOPIC_PREFIX": prefix,
        "ALSTREAM_PATHS__STATE_DIR": str(state),
        "ALSTREAM_PATHS__POLICY_FILE": str(write_policy(state)),
        "ALSTREAM_TASK__CLASSES": '["a", "b", "c"]',
        "ALSTREAM_SCORER__BATCH_SIZE": "50",
        "ALSTREAM_SCORER__MODEL_CATCH_UP_S": "1",
    }
    return load_settings(environ={**os.environ, **environ})


def test_two_prefixes_on_one_cluster_use_two_consumer_groups(
    settings: AlstreamSettings, unique_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ones = [deployment(f"{name}{unique_id}.", tmp_path, monkeypatch) for name in ("da", "db")]
    assert ones[0].scorer.group_id == ones[1].scorer.group_id  # the same setting in both
    groups = [one.kafka.group_id(one.scorer.group_id) for one in ones]
    assert groups == [f"da{unique_id}.alstream-scorer", f"db{unique_id}.alstream-scorer"]
    stops = [StopFlag(), StopFlag()]
    threads = []
    for one, stop in zip(ones, stops, strict=True):
        create_topics(one, partitions_override=2)
        threads.append(threading.Thread(target=run, args=(one,), kwargs={"stop": stop}, daemon=True))
    readers = [TopicReader(one, "scores") for one in ones]
    try:
        for thread in threads:
            thread.start()  # both members run at once, as two deployments on one cluster do
        wanted = [set(produce_items(one, 0, ITEMS, with_probs=True)) for one in ones]
        for reader, items in zip(readers, wanted, strict=True):
            scored = reader.read_until(lambda r, items=items: items <= {x["item_id"] for x in r}, 90)
            assert items <= {x["item_id"] for x in scored}, "a deployment's scorer never got its partitions"
        for one, group in zip(ones, groups, strict=True):
            topic = one.kafka.topic("items")
            wait_until(
                lambda one=one, group=group, topic=topic: (
                    sum(committed_offsets(one, group_id=group, topic=topic, patience_s=10).values()) == ITEMS
                ),
                timeout_s=30,
                what=f"{group} to commit every item of {topic}",
            )
            # nothing under the bare group name: the prefix is what keeps the deployments apart
            assert committed_offsets(one, group_id=one.scorer.group_id, topic=topic, patience_s=10) == {}
    finally:
        for stop in stops:
            stop.set()
        for thread in threads:
            thread.join(30)
        for reader in readers:
            reader.close()
