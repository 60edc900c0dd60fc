"""The annotation SDK hands a tool only its own, possible assignments: on its partition (its key) it
skips records that are not assignments, an assignment made in year 9999, one for a reserved identity
and one for another annotator, and still hands out the valid one after them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from confluent_kafka import Producer

from alstream.annotation.client import AnnotationClient
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.kafka_config import producer_config
from tests.support.records import assignment
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker


def test_only_its_own_possible_assignments_reach_the_tool(topics: AlstreamSettings) -> None:
    codec = SingleObjectCodec("assignments")
    now = datetime.now(UTC)
    me = "ann-hostile"
    hostile = [
        b"\x00random bytes, not an assignment",
        codec.encode(assignment("a-future", annotator_id=me, assigned_at=datetime(9999, 1, 1, tzinfo=UTC))),
        codec.encode(assignment("a-reserved", annotator_id="__intruder__", assigned_at=now)),
        codec.encode(assignment("a-other", annotator_id="ann-someone-else", assigned_at=now)),
    ]
    valid = codec.encode(assignment("a-valid", annotator_id=me, assigned_at=now, classes=["cat", "dog"]))
    producer = Producer(producer_config(topics))
    for value in [*hostile, valid]:
        producer.produce(topics.kafka.topic("assignments"), key=me.encode(), value=value)
    assert producer.flush(30) == 0
    with AnnotationClient(settings=topics, annotator_id=me) as client:
        received: list[dict] = []
        wait_until(
            lambda: received.extend(client.assignments(1.0)) or received,
            timeout_s=60,
            what="the valid assignment",
        )
        assert [a["assignment_id"] for a in received] == ["a-valid"]
        assert client.skipped == len(hostile)
