"""The batch item decoder reads every record exactly as the per-record decoder does, valid or not."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alstream.agents.scorer.item_columns import BatchItemDecoder, ItemColumns
from alstream.agents.scorer.item_decoding import FastItemDecoder
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.exceptions import DecodeError, TruncatedRecord
from tests.support.scorer import corrupt, item_records

CODEC = SingleObjectCodec("items", raw_timestamps=True)
ROW = FastItemDecoder(codec=CODEC)
BATCH = BatchItemDecoder(row_decoder=ROW)
COLUMNS = (
    "item_id",
    "unit_of_work",
    "parent_id",
    "embedding",
    "probabilities",
    "hardness",
    "uri",
    "metadata",
    "event_time",
)


def as_columns(record: dict[str, Any]) -> dict[str, Any]:
    return {name: record[name] for name in COLUMNS}


def common_item(i: int, **overrides: Any) -> dict[str, Any]:
    record = {
        "item_id": f"item-{i:06d}",
        "source": "camera-7",
        "unit_of_work": "ITEM",
        "parent_id": None,
        "embedding": np.arange(64, dtype="<f4").tobytes(),
        "probabilities": None,
        "hardness": None,
        "uri": None,
        "metadata": {},
        "event_time": 1_764_000_000_000 + i,
    }
    record.update(overrides)
    return record


@settings(max_examples=120, deadline=None)
@given(st.lists(item_records, min_size=1, max_size=8))
def test_valid_batches_decode_like_each_record(batch: list[dict[str, Any]]) -> None:
    columns = BATCH.decode_batch([CODEC.encode(r) for r in batch])
    assert columns.errors == {}
    for i, record in enumerate(batch):
        assert columns.row(i) == as_columns(CODEC.decode(CODEC.encode(record)))
        # the sizes the item contract's id and source rules read
        assert columns.id_bytes[i] == len(record["item_id"].encode())
        assert columns.source_bytes[i] == len(record["source"].encode())


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(item_records, st.integers(0, 10_000), st.integers(0, 255), st.booleans()),
        min_size=1,
        max_size=6,
    )
)
def test_corrupted_batches_fail_or_agree_row_by_row(
    batch: list[tuple[dict[str, Any], int, int, bool]],
) -> None:
    # xor 0 leaves a record valid: batches mix valid and broken rows
    values = [
        corrupt(CODEC.encode(record), where=where, xor=xor, truncate=truncate)
        for record, where, xor, truncate in batch
    ]
    columns = BATCH.decode_batch(values)
    for i, value in enumerate(values):
        try:
            expected = ROW.decode(value)
        except DecodeError as exc:
            assert type(columns.errors.get(i)) is type(exc)
            continue
        assert i not in columns.errors
        assert columns.row(i) == as_columns(expected)


def test_common_records_never_reach_the_per_record_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails if the vectorised pass stops covering the records producers actually send."""
    batch = [
        common_item(0),
        common_item(1, item_id="x" * 100, source="s" * 70),  # two-byte length prefixes
        common_item(2, probabilities=np.full(10, 0.1, dtype="<f4").tobytes()),
        common_item(3, uri="s3://bucket/" + "d" * 80 + ".jpg", parent_id="image-9", unit_of_work="OBJECT"),
        common_item(4, metadata={"skills": "radiology,ct", "dataset": "digits"}),
        common_item(5, item_id="ümlaut-ß-✓"),
    ]
    values = [CODEC.encode(r) for r in batch]
    expected = [as_columns(CODEC.decode(v)) for v in values]

    def refuse(self: FastItemDecoder, data: bytes) -> None:
        raise AssertionError("a common record took the per-record path")

    monkeypatch.setattr(FastItemDecoder, "decode", refuse)
    columns = BATCH.decode_batch(values)
    assert [columns.row(i) for i in range(len(batch))] == expected


def test_hardness_and_tombstones_take_the_per_record_path() -> None:
    with_hardness = common_item(
        1,
        unit_of_work="PIXEL_MASK",
        hardness={"object_hardness": b"", "pixel_mean_uncertainty": 0.25, "pixel_uncertain_fraction": None},
    )
    values = [CODEC.encode(common_item(0)), None, CODEC.encode(with_hardness), b"\xc3\x01"]
    columns = BATCH.decode_batch(values)
    assert set(columns.errors) == {1, 3}
    assert isinstance(columns.errors[1], TruncatedRecord) and "tombstone" in str(columns.errors[1])
    assert columns.row(2) == as_columns(CODEC.decode(values[2]))
    assert columns.item_ids[0] == "item-000000"


def test_other_codecs_decode_every_record_themselves() -> None:
    """A decoder other than the pinned fast one (e.g. the Confluent wire format) reads every record."""
    calls = []

    class Codec:
        def decode(self, data: bytes) -> dict[str, Any]:
            calls.append(data)
            return CODEC.decode(data)

    values = [CODEC.encode(common_item(i)) for i in range(3)]
    columns = BatchItemDecoder(row_decoder=Codec()).decode_batch(values)
    assert calls == values
    assert columns.item_ids == ["item-000000", "item-000001", "item-000002"]


def test_take_keeps_the_rows_in_the_given_order() -> None:
    columns = BATCH.decode_batch([CODEC.encode(common_item(i, uri=f"u{i}")) for i in range(4)])
    taken = columns.take([3, 1])
    assert isinstance(taken, ItemColumns)
    assert taken.item_ids == ["item-000003", "item-000001"] and taken.uris == ["u3", "u1"]
