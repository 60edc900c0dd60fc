"""Dead letters through a real broker: the original bytes, the Avro record and the headers survive."""

from __future__ import annotations

import pytest
from confluent_kafka import Producer

from alstream.settings import AlstreamSettings
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.dead_letters import DeadLetterSink, error_headers
from alstream.streams.exceptions import TruncatedRecord
from alstream.streams.kafka_config import producer_config
from tests.support.topics import read_messages

pytestmark = pytest.mark.broker


def test_dead_letter_survives_the_broker(topics: AlstreamSettings) -> None:
    topic = topics.kafka.topic("dead-letters")
    producer = Producer(producer_config(topics))
    sink = DeadLetterSink(producer=producer, topic=topic, agent="scorer")
    errors: list[object] = []
    sink.send(
        key=b"item-42",
        value=b"\xc3\x01\x00",
        source_topic=topics.kafka.topic("items"),
        error=TruncatedRecord("3 bytes is shorter than the 10-byte single-object header"),
        partition=1,
        offset=7,
        on_delivery=lambda err, msg: errors.append(err),
    )
    assert producer.flush(30) == 0 and errors == [None]

    (message,) = read_messages(topics, "dead-letters")
    assert message.key() == b"item-42"
    headers = error_headers(message.headers())
    assert headers["class"] == "TruncatedRecord"
    assert headers["topic"] == topics.kafka.topic("items")
    assert (headers["partition"], headers["offset"], headers["agent"]) == ("1", "7", "scorer")
    record = SingleObjectCodec("dead-letters", raw_timestamps=True).decode(message.value())
    assert record["original_value"] == b"\xc3\x01\x00"
    assert record["error_message"] == headers["message"]
