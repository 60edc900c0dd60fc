"""Every decoder, fed damaged bytes, raises a DecodeError subclass and nothing else; every encoder, fed
wrong records, raises EncodeError and nothing else. Agents rely on this to dead-letter, not crash."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alstream.streams.avro_bytes import zigzag_varint
from alstream.streams.codecs import SINGLE_OBJECT_MAGIC, SingleObjectCodec
from alstream.streams.exceptions import (
    DecodeError,
    EncodeError,
    SchemaMismatch,
    TruncatedRecord,
    UnknownSchema,
    WrongMagic,
)
from alstream.streams.schemas import default_catalog
from alstream.streams.topics import CATALOGUE
from tests.support import records as factories
from tests.support.avro_strategies import records

TOPICS = [spec.base_name for spec in CATALOGUE if not spec.internal]  # internal: no Avro contract
CODECS = {topic: SingleObjectCodec(topic) for topic in TOPICS}
RAW = {topic: SingleObjectCodec(topic, raw_timestamps=True) for topic in ("items", "labels", "assignments")}
FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def decode_outcome(codec: SingleObjectCodec, data: bytes) -> str:
    """'ok' or the DecodeError class name; any other exception fails the test."""
    try:
        record = codec.decode(data)
    except DecodeError as exc:
        return type(exc).__name__
    assert isinstance(record, dict)
    return "ok"


@pytest.mark.parametrize("topic", TOPICS)
@FUZZ
@given(data=st.data())
def test_valid_records_round_trip_and_damaged_ones_are_decode_errors(
    topic: str, data: st.DataObject, fuzz_counts: Counter
) -> None:
    codec = CODECS[topic]
    record = data.draw(records(codec.schema), label="record")
    encoded = codec.encode(record)
    assert decode_outcome(codec, encoded) == "ok"
    if topic in RAW:
        assert decode_outcome(RAW[topic], encoded) == "ok"
    cut = data.draw(st.integers(0, len(encoded) - 1), label="cut")
    # Decoding is deterministic and trailing bytes are refused, so a strict prefix is never a record.
    assert decode_outcome(codec, encoded[:cut]) in {"TruncatedRecord", "SchemaMismatch"}
    flips = data.draw(
        st.lists(st.tuples(st.integers(0, len(encoded) - 1), st.integers(1, 255)), min_size=1, max_size=4)
    )
    damaged = bytearray(encoded)
    for position, mask in flips:
        damaged[position] ^= mask
    decode_outcome(codec, bytes(damaged))
    extra = data.draw(st.binary(min_size=1, max_size=16))
    assert decode_outcome(codec, encoded + extra) == "SchemaMismatch"
    fuzz_counts[f"codec {topic}: valid + truncated + flipped + trailing"] += 4


@pytest.mark.parametrize("topic", ["items", "labels", "assignments", "annotator-events", "dead-letters"])
@FUZZ
@given(blob=st.binary(max_size=512))
def test_random_bytes_never_crash_a_decoder(topic: str, blob: bytes, fuzz_counts: Counter) -> None:
    decode_outcome(CODECS[topic], blob)
    decode_outcome(CODECS[topic], SINGLE_OBJECT_MAGIC + CODECS[topic].header[2:] + blob)
    fuzz_counts[f"codec {topic}: random bytes (bare + with header)"] += 2


@FUZZ
@given(
    magic=st.binary(min_size=2, max_size=2).filter(lambda m: m != SINGLE_OBJECT_MAGIC),
    body=st.binary(min_size=8, max_size=64),
)
def test_wrong_magic(magic: bytes, body: bytes, fuzz_counts: Counter) -> None:
    with pytest.raises(WrongMagic):
        CODECS["items"].decode(magic + body)
    fuzz_counts["codec: wrong magic"] += 1


@FUZZ
@given(fingerprint=st.binary(min_size=8, max_size=8), body=st.binary(max_size=64))
def test_unknown_fingerprint(fingerprint: bytes, body: bytes, fuzz_counts: Counter) -> None:
    known = {v.fingerprint for topic in TOPICS for v in [default_catalog().current(topic)]}
    if fingerprint in known:
        return
    with pytest.raises(UnknownSchema):
        CODECS["labels"].decode(SINGLE_OBJECT_MAGIC + fingerprint + body)
    fuzz_counts["codec: unknown fingerprint"] += 1


def test_other_topics_schema_is_refused(fuzz_counts: Counter) -> None:
    """A valid label sent to the items topic is an UnknownSchema for the items reader, not a crash."""
    label = CODECS["labels"].encode(factories.label())
    with pytest.raises(UnknownSchema):
        CODECS["items"].decode(label)
    fuzz_counts["codec: record of another topic"] += 1


@pytest.mark.parametrize("length", [2**31, 2**40, 2**62])
def test_huge_declared_lengths_are_decode_errors_not_memory_blowups(
    length: int, fuzz_counts: Counter
) -> None:
    """A string or bytes field claiming terabytes must fail fast (zig-zag varint length, no body)."""
    data = CODECS["items"].header + zigzag_varint(length) + b"abc"
    with pytest.raises((TruncatedRecord, SchemaMismatch)):
        CODECS["items"].decode(data)
    fuzz_counts["codec: huge declared length"] += 1


BAD_VALUES = st.one_of(
    st.none(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.binary(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@pytest.mark.parametrize("topic", ["items", "labels", "assignments", "annotator-events", "scores"])
@FUZZ
@given(data=st.data())
def test_encoders_refuse_wrong_records_with_encode_error(
    topic: str, data: st.DataObject, fuzz_counts: Counter
) -> None:
    codec = CODECS[topic]
    record = dict(data.draw(records(codec.schema), label="valid"))
    field = data.draw(st.sampled_from(sorted(record)), label="field")
    action = data.draw(st.sampled_from(["wrong", "missing", "huge", "nan"]), label="action")
    if action == "missing":
        del record[field]
    elif action == "huge":
        record[field] = "x" * 2_000_000
    elif action == "nan":
        record[field] = data.draw(st.sampled_from([float("nan"), float("inf"), -float("inf")]))
    else:
        record[field] = data.draw(BAD_VALUES)
    try:
        encoded = codec.encode(record)
    except EncodeError:
        fuzz_counts[f"encoder {topic}: refused"] += 1
        return
    assert decode_outcome(codec, encoded) == "ok"  # whatever is accepted must read back
    fuzz_counts[f"encoder {topic}: accepted (value fits the schema)"] += 1
