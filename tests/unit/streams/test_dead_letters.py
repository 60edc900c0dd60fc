"""Dead letters keep the original bytes and say why, in the Avro value and in headers."""

from __future__ import annotations

from prometheus_client import REGISTRY

from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.dead_letters import HEADER_PREFIX, MAX_MESSAGE_CHARS, DeadLetterSink, error_headers
from alstream.streams.exceptions import WrongMagic
from alstream.streams.testing import InMemoryProducer


def _count(**labels: str) -> float:
    return REGISTRY.get_sample_value("alstream_dead_letters_total", labels) or 0.0


def test_dead_letter_round_trip_value_and_headers() -> None:
    producer = InMemoryProducer()
    sink = DeadLetterSink(producer=producer, topic="p.dead-letters", agent="unit-dl")
    delivered: list[object] = []
    before = _count(agent="unit-dl", source_topic="p.items", error_class="WrongMagic")
    sink.send(
        key="item-9",
        value=b"\x00garbage",
        source_topic="p.items",
        error=WrongMagic("expected c301"),
        partition=3,
        offset=41,
        on_delivery=lambda err, msg: delivered.append(err),
    )
    producer.poll()
    assert delivered == [None]
    (message,) = producer.topics["p.dead-letters"]
    assert message.key() == b"item-9"
    record = SingleObjectCodec("dead-letters", raw_timestamps=True).decode(message.value())
    assert record["original_value"] == b"\x00garbage"
    assert record["original_key"] == b"item-9"
    assert record["error_class"] == "WrongMagic"
    assert record["source_partition"] == 3 and record["source_offset"] == 41
    headers = error_headers(message.headers())
    assert headers["topic"] == "p.items"
    assert headers["partition"] == "3"
    assert headers["offset"] == "41"
    assert headers["class"] == "WrongMagic"
    assert headers["message"] == "expected c301"
    assert headers["agent"] == "unit-dl"
    assert int(headers["time"]) == record["failed_at"]
    assert _count(agent="unit-dl", source_topic="p.items", error_class="WrongMagic") == before + 1


def test_error_given_as_class_name_and_long_message_truncated() -> None:
    producer = InMemoryProducer()
    sink = DeadLetterSink(producer=producer, topic="dl", agent="unit-dl")
    sink.send(key=None, value=None, source_topic="p.labels", error="InvalidLabel", message="x" * 5000)
    (message,) = producer.topics["dl"]
    headers = error_headers(message.headers())
    assert headers["class"] == "InvalidLabel"
    assert len(headers["message"]) == MAX_MESSAGE_CHARS
    assert headers["partition"] == "-1"


def test_error_headers_ignores_foreign_headers() -> None:
    headers = [("traceparent", b"abc"), (HEADER_PREFIX + "class", b"X"), (HEADER_PREFIX + "message", None)]
    assert error_headers(headers) == {"class": "X", "message": ""}  # type: ignore[arg-type]
    assert error_headers(None) == {}
