"""Dead letters keep the original bytes and say why, in the Avro value and in headers."""

from __future__ import annotations

import hashlib
import json

import pytest
from prometheus_client import REGISTRY

from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.config import KAFKA_DEFAULT_MAX_MESSAGE_BYTES
from alstream.streams.dead_letters import HEADER_PREFIX, MAX_MESSAGE_CHARS, DeadLetterSink, error_headers
from alstream.streams.exceptions import WrongMagic
from alstream.streams.schemas import default_schema_dir
from alstream.streams.testing import InMemoryProducer
from tests.support.schemas import catalog_with_old_current


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


# --- a dead letter always fits ---------------------------------------------------------------------


def _record_size(message: object) -> int:
    """What the broker counts: value, key and headers (the framing is in FRAMING_BYTES)."""
    headers = sum(len(name) + len(raw) for name, raw in message.headers() or [])  # type: ignore[attr-defined]
    return len(message.value() or b"") + len(message.key() or b"") + headers  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("key_size", "value_size"),
    [
        (9, 999_955),  # the largest a default librdkafka producer sends: the error no longer fits with it
        (9, 5 * 1024 * 1024),
        (2 * 1024 * 1024, 10),  # a hostile key is cut too (it is also the dead letter's key)
        (0, KAFKA_DEFAULT_MAX_MESSAGE_BYTES),
    ],
)
def test_an_oversized_original_is_cut_to_fit_with_its_size_digest_and_coordinates(
    key_size: int, value_size: int
) -> None:
    key, value = b"k" * key_size or None, bytes(range(256)) * (value_size // 256) + b"v" * (value_size % 256)
    producer = InMemoryProducer()
    sink = DeadLetterSink(producer=producer, topic="dl", agent="unit-dl", max_bytes=1_000_000)
    sink.send(
        key=key, value=value, source_topic="p.items", error=ValueError("x" * 3000), partition=2, offset=77
    )
    (message,) = producer.topics["dl"]
    assert _record_size(message) <= 1_000_000 - 1024
    record = SingleObjectCodec("dead-letters").decode(message.value())
    truncation = record["truncation"]
    assert truncation is not None
    assert truncation["value_size"] == value_size
    assert truncation["value_sha256"] == hashlib.sha256(value).hexdigest()
    assert truncation["key_size"] == (key_size if key else -1)
    assert truncation["key_sha256"] == (hashlib.sha256(key).hexdigest() if key else None)
    assert value.startswith(record["original_value"])
    assert key is None or key.startswith(record["original_key"])
    assert (record["source_topic"], record["source_partition"], record["source_offset"]) == ("p.items", 2, 77)
    if value_size > 100_000:
        assert len(record["original_value"]) > 500_000, "the prefix uses the room there is"


def test_an_original_that_fits_is_kept_whole() -> None:
    producer = InMemoryProducer()
    sink = DeadLetterSink(producer=producer, topic="dl", agent="unit-dl")
    value = b"x" * 900_000
    sink.send(key=b"k", value=value, source_topic="p.items", error="Oversized", partition=0, offset=1)
    (message,) = producer.topics["dl"]
    record = SingleObjectCodec("dead-letters").decode(message.value())
    assert record["truncation"] is None and record["original_value"] == value


def _v1() -> SingleObjectCodec:
    return SingleObjectCodec("dead-letters", catalog=catalog_with_old_current("dead-letters"))


def test_dead_letter_schema_v1_differs_only_by_the_optional_truncation() -> None:
    v1 = json.loads((default_schema_dir() / "history" / "dead-letters.v1.avsc").read_text())
    now = json.loads((default_schema_dir() / "dead-letters.avsc").read_text())
    v1_names = [f["name"] for f in v1["fields"]]
    assert [f["name"] for f in now["fields"] if f["name"] not in v1_names] == ["truncation"]
    assert next(f for f in now["fields"] if f["name"] == "truncation")["default"] is None


def test_old_writer_new_reader_and_back() -> None:
    old = {
        "original_key": b"k",
        "original_value": b"v",
        "source_topic": "p.items",
        "source_partition": 1,
        "source_offset": 5,
        "error_class": "WrongMagic",
        "error_message": "bad",
        "agent": "scorer",
        "failed_at": 1_700_000_000_000,
    }
    written_by_v1 = _v1().encode(old)
    decoded = SingleObjectCodec("dead-letters", raw_timestamps=True).decode(written_by_v1)
    assert decoded["truncation"] is None and decoded["original_value"] == b"v"
    new = {**old, "truncation": {"key_size": 1, "key_sha256": None, "value_size": 9, "value_sha256": "ab"}}
    read_by_v1 = _v1().decode(SingleObjectCodec("dead-letters").encode(new))
    assert "truncation" not in read_by_v1 and read_by_v1["source_offset"] == 5
