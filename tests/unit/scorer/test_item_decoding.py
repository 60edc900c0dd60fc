"""The fast item decoder agrees with the generic Avro codec on valid records and never accepts bytes
it refuses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alstream.agents.scorer.item_decoding import FastItemDecoder
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.exceptions import DecodeError
from tests.support.scorer import corrupt, item_records

CODEC = SingleObjectCodec("items", raw_timestamps=True)
FAST = FastItemDecoder(codec=CODEC)


@settings(max_examples=150, deadline=None)
@given(item_records)
def test_valid_records_decode_identically(record) -> None:  # type: ignore[no-untyped-def]
    data = CODEC.encode(record)
    assert FAST.decode(data) == CODEC.decode(data)


@settings(max_examples=300, deadline=None)
@given(item_records, st.integers(0, 10_000), st.integers(1, 255), st.booleans())
def test_corrupted_records_fail_or_agree(record, where, xor, truncate) -> None:  # type: ignore[no-untyped-def]
    blob = corrupt(CODEC.encode(record), where=where, xor=xor, truncate=truncate)
    try:
        expected = CODEC.decode(blob)
    except DecodeError:
        with pytest.raises(DecodeError):
            FAST.decode(blob)
        return
    try:
        got = FAST.decode(blob)
    except DecodeError:
        # stricter than fastavro, which reads a negative enum / union index (e.g. byte 0x01 = -1)
        # as Python's index from the end; we refuse such bytes
        return
    assert got == expected


def test_fast_path_is_taken_for_the_current_items_schema() -> None:
    """Fails when schemas/items.avsc changes: update the parser (and FAST_PATH_FINGERPRINT) with it."""
    assert FAST.header is not None and FAST.header == CODEC.header


def test_unpinned_schema_uses_the_generic_codec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("alstream.agents.scorer.item_decoding.FAST_PATH_FINGERPRINT", "0" * 16)
    decoder = FastItemDecoder(codec=CODEC)
    assert decoder.header is None

    def refuse(self: FastItemDecoder, buf: bytes) -> None:
        raise AssertionError("the hand-written parser must not run for an unpinned schema")

    monkeypatch.setattr(FastItemDecoder, "_parse", refuse)
    record = {
        "item_id": "item-1",
        "source": "cam",
        "unit_of_work": "OBJECT",
        "parent_id": None,
        "embedding": b"\x00" * 16,
        "probabilities": None,
        "hardness": None,
        "uri": None,
        "metadata": {"k": "v"},
        "event_time": 1_700_000_000_000,
    }
    data = CODEC.encode(record)
    assert decoder.decode(data) == CODEC.decode(data)
    assert decoder.decode(data)["item_id"] == "item-1"
