"""Dead letters as the tools read them: filters, the original headers, and what replay refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alstream.dead_letters.exceptions import BadFilter
from alstream.dead_letters.filters import Filter, parse_id, parse_time
from alstream.dead_letters.letters import REPLAY_OF, DeadLetter, dead_letter_of
from alstream.dead_letters.replay import refusal, replay_headers
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.dead_letters import DeadLetterSink
from alstream.streams.testing import InMemoryProducer

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def letter(**record: Any) -> DeadLetter:
    base = {
        "original_key": b"item-1",
        "original_value": b"\xc3\x01payload",
        "source_topic": "alstream.items",
        "source_partition": 2,
        "source_offset": 41,
        "error_class": "UnknownSchema",
        "error_message": "unknown writer schema fingerprint",
        "agent": "scorer",
        "failed_at": NOW,
    }
    return DeadLetter(
        topic="alstream.dead-letters",
        partition=0,
        offset=7,
        key=b"item-1",
        headers=[("traceparent", b"t-1"), ("alstream.error.class", b"UnknownSchema"), (REPLAY_OF, b"old")],
        record={**base, **record},
    )


def test_a_truncated_dead_letter_is_refused_with_where_the_whole_record_was() -> None:
    truncated = letter(
        truncation={"key_size": 6, "key_sha256": "aa", "value_size": 5_000_000, "value_sha256": "bb"}
    )
    why = refusal(truncated)
    assert why is not None
    assert "only a prefix" in why and "5000000 bytes" in why and "sha256 bb" in why
    assert "alstream.items[2]@41" in why
    assert refusal(letter()) is None
    assert "ever produced" in (refusal(letter(source_partition=-1)) or "")
    unreadable = DeadLetter("dl", 0, 1, None, [], None, decode_error="WrongMagic: x")
    assert "cannot be read" in (refusal(unreadable) or "")


def test_replay_keeps_the_original_headers_and_marks_the_replay() -> None:
    headers = replay_headers(letter(), now_ms=123)
    assert headers[0] == ("traceparent", b"t-1")  # the original's own, first and unchanged
    names = [name for name, _ in headers]
    assert "alstream.error.class" not in names  # this failure's context is not the record's
    assert names.count(REPLAY_OF) == 1 and dict(headers)[REPLAY_OF] == b"alstream.dead-letters:0:7"
    assert dict(headers)["alstream.replay.time"] == b"123"


def test_the_sink_keeps_the_original_headers_for_replay() -> None:
    producer = InMemoryProducer()
    sink = DeadLetterSink(producer=producer, topic="dl", agent="scorer")
    sink.send(
        key=b"k",
        value=b"v",
        source_topic="alstream.items",
        error="WrongMagic",
        message="bad",
        partition=1,
        offset=2,
        headers=[("traceparent", b"t-1"), ("alstream.error.class", b"Earlier")],
    )
    (message,) = producer.topics["dl"]
    read = dead_letter_of(message, SingleObjectCodec("dead-letters"))
    assert read.original_headers == [("traceparent", b"t-1")]
    assert dict(read.headers)["alstream.error.class"] == b"WrongMagic"  # this failure's, not the earlier one
    assert read.to_json()["headers"] == {"traceparent": "t-1"}
    assert read.id == "0:0" and read.get("source_offset") == 2


def test_filters() -> None:
    one = letter()
    assert Filter().matches(one) and Filter().empty
    assert Filter(agents=frozenset({"scorer"}), error_classes=frozenset({"UnknownSchema"})).matches(one)
    assert not Filter(agents=frozenset({"labels"})).matches(one)
    assert not Filter(source_topics=frozenset({"alstream.labels"})).matches(one)
    assert Filter(since=NOW - timedelta(hours=1), until=NOW).matches(one)
    assert not Filter(since=NOW + timedelta(seconds=1)).matches(one)
    assert Filter(ids=frozenset({(0, 7)})).matches(one) and not Filter(ids=frozenset({(0, 8)})).matches(one)


def test_times_and_ids_are_read_or_refused_clearly() -> None:
    assert parse_time("6h", now=NOW) == NOW - timedelta(hours=6)
    assert parse_time("2026-11-27T10:00:00Z") == datetime(2026, 11, 27, 10, tzinfo=UTC)
    assert parse_time("2026-11-27T10:00:00") == datetime(2026, 11, 27, 10, tzinfo=UTC)
    with pytest.raises(BadFilter, match="ISO-8601"):
        parse_time("yesterday")
    assert parse_id("3:120") == (3, 120)
    with pytest.raises(BadFilter, match="partition:offset"):
        parse_id("3-120")


def test_replay_refuses_what_the_sink_truncated_and_takes_what_it_kept_whole() -> None:
    """The sink's own output, read back as the tools read it: the runtime's truncation reaches replay."""
    producer = InMemoryProducer()
    sink = DeadLetterSink(producer=producer, topic="dl", agent="scorer", max_bytes=200_000)
    headers = [("traceparent", b"t-1")]
    for offset, value in ((1, b"v" * 1_000), (2, b"v" * 5_000_000)):
        sink.send(
            key=b"k",
            value=value,
            source_topic="alstream.items",
            error="Oversized",
            partition=0,
            offset=offset,
            headers=headers,
        )
    whole, cut = (dead_letter_of(m, SingleObjectCodec("dead-letters")) for m in producer.topics["dl"])
    assert whole.truncation is None and refusal(whole) is None
    assert whole.original_headers == headers
    assert cut.truncation is not None and cut.truncation["value_size"] == 5_000_000
    why = refusal(cut)
    assert why is not None and "only a prefix" in why and "alstream.items[0]@2" in why
    assert cut.original_headers == headers  # small headers are kept as context even when cut


def test_original_headers_too_large_to_fit_are_cut_from_a_truncated_dead_letter() -> None:
    producer = InMemoryProducer()
    sink = DeadLetterSink(producer=producer, topic="dl", agent="scorer", max_bytes=200_000)
    headers: list[tuple[str, str | bytes | None]] = [
        ("small", b"s"),
        ("huge", b"h" * 300_000),
        ("after", b"a"),
    ]
    sink.send(
        key=b"k",
        value=b"v",
        source_topic="alstream.items",
        error="Oversized",
        partition=0,
        offset=3,
        headers=headers,
    )
    (message,) = producer.topics["dl"]
    read = dead_letter_of(message, SingleObjectCodec("dead-letters"))
    size = len(message.value()) + sum(len(name) + len(raw or b"") for name, raw in message.headers() or [])
    assert size <= 200_000
    assert read.truncation is not None and refusal(read) is not None
    assert read.original_headers == [("small", b"s")]  # the leading headers that fit
