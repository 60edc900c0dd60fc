"""Validation rules: every refused item has a bounded reason and a message naming the problem."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from alstream.ingest import ItemValidator
from alstream.ingest import reasons as R
from alstream.settings import AlstreamSettings, load_settings

DIM = 8


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> AlstreamSettings:
    monkeypatch.delenv("ALSTREAM_TASK__CLASSES", raising=False)
    return load_settings(
        ingest={"embedding_dim": DIM, "max_id_length": 16}, task={"classes": ["a", "b", "c"]}
    )


def good(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"item_id": "item-1", "source": "cam", "embedding": [0.5] * DIM}
    item.update(changes)
    return {k: v for k, v in item.items() if v is not _DROP}


_DROP = object()


def reason_of(settings: AlstreamSettings, item: Any, **kwargs: Any) -> str | None:
    batch = ItemValidator(settings=settings, **kwargs).prepare_records([item])
    assert len(batch) + len(batch.rejections) == 1
    return batch.rejections[0].reason if batch.rejections else None


def test_a_minimal_item_is_valid_with_defaults(settings: AlstreamSettings) -> None:
    batch = ItemValidator(settings=settings).prepare_records([good()])
    assert batch.rejections == []
    assert batch.units == [0] and batch.parent_ids == [None] and batch.metadata == [{}]
    assert abs(batch.event_times[0] - datetime.now(UTC).timestamp() * 1000) < 60_000
    assert batch.embeddings.dtype == np.dtype("<f4") and batch.embeddings.shape == (1, DIM)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"item_id": _DROP}, R.MISSING_FIELD),
        ({"item_id": None}, R.MISSING_FIELD),
        ({"item_id": ""}, R.ID_LENGTH),
        ({"item_id": "x" * 17}, R.ID_LENGTH),
        ({"item_id": 12}, R.BAD_TYPE),
        ({"source": _DROP}, R.MISSING_FIELD),
        ({"source": ""}, R.MISSING_FIELD),
        ({"source": 3}, R.BAD_TYPE),
        ({"embedding": _DROP}, R.MISSING_FIELD),
        ({"embedding": [0.5] * (DIM - 1)}, R.EMBEDDING_DIM),
        ({"embedding": [0.5] * (DIM + 1)}, R.EMBEDDING_DIM),
        ({"embedding": [0.5] * (DIM - 1) + [math.nan]}, R.NOT_FINITE),
        ({"embedding": [0.5] * (DIM - 1) + [math.inf]}, R.NOT_FINITE),
        ({"embedding": [0.5] * (DIM - 1) + [1e300]}, R.NOT_FINITE),  # beyond float32
        ({"embedding": ["a"] * DIM}, R.BAD_TYPE),
        ({"embedding": "0.5,0.5"}, R.BAD_TYPE),
        ({"embedding": b"\x00" * 7}, R.BAD_TYPE),
        ({"embedding": [[0.5] * DIM]}, R.BAD_TYPE),
        ({"probabilities": [0.5, 0.5]}, R.PROBABILITIES_LENGTH),
        ({"probabilities": [0.2, 0.2, 0.2]}, R.PROBABILITIES_SUM),
        ({"probabilities": [1.5, -0.25, -0.25]}, R.PROBABILITIES_RANGE),
        ({"probabilities": [math.nan, 0.5, 0.5]}, R.NOT_FINITE),
        ({"unit_of_work": "PAGE"}, R.UNIT_OF_WORK),
        ({"unit_of_work": "OBJECT"}, R.UNIT_OF_WORK),  # a part needs its parent
        ({"unit_of_work": "REGION", "parent_id": "x" * 17}, R.ID_LENGTH),
        ({"parent_id": 5}, R.BAD_TYPE),
        ({"uri": 5}, R.BAD_TYPE),
        ({"metadata": ["a"]}, R.BAD_TYPE),
        ({"hardness": {"object_hardness": [1.5]}}, R.HARDNESS),
        ({"hardness": {"object_hardness": [0.5], "pixel_mean_uncertainty": 2}}, R.HARDNESS),
        ({"hardness": {"objects": [0.5]}}, R.HARDNESS),
        ({"event_time": "yesterday"}, R.EVENT_TIME),
        ({"event_time": -5}, R.EVENT_TIME),
        ({"event_time": True}, R.EVENT_TIME),
        ({"event_time": [1]}, R.EVENT_TIME),
        ({"colour": "red"}, R.UNKNOWN_FIELD),
    ],
)
def test_invalid_items_get_their_reason(
    settings: AlstreamSettings, changes: dict[str, Any], reason: str
) -> None:
    assert reason_of(settings, good(**changes)) == reason


def test_not_a_mapping(settings: AlstreamSettings) -> None:
    assert reason_of(settings, ["item-1"]) == R.BAD_TYPE


@pytest.mark.parametrize(
    "changes",
    [
        {"probabilities": [0.2, 0.3, 0.5]},
        {"probabilities": [0.2, 0.3, 0.5004]},  # within the 1e-3 tolerance
        {"probabilities": np.array([0.1, 0.1, 0.8])},
        {"probabilities": np.array([0.1, 0.1, 0.8], dtype="<f4").tobytes()},
        {"embedding": np.ones(DIM)},
        {"embedding": np.ones(DIM, dtype="<f4").tobytes()},
        {"embedding": [1] * DIM},
        {
            "unit_of_work": "PIXEL_MASK",
            "parent_id": "image-1",
            "hardness": {"object_hardness": [0.1, 0.9], "pixel_mean_uncertainty": 0.3},
        },
        {"event_time": "2026-01-31T12:00:00Z"},
        {"event_time": datetime(2026, 1, 31, tzinfo=UTC)},
        {"event_time": 1_769_860_800_000},
        {"metadata": {"site": "berlin", "shift": 2, "tags": ["a"]}},
        {"uri": "s3://b/k.jpg"},
    ],
)
def test_valid_shapes_are_accepted(settings: AlstreamSettings, changes: dict[str, Any]) -> None:
    assert reason_of(settings, good(**changes)) is None


def test_values_are_normalised(settings: AlstreamSettings) -> None:
    batch = ItemValidator(settings=settings).prepare_records(
        [
            good(
                event_time="2026-01-31T12:00:00Z",
                metadata={"shift": 2, "ok": True, "tags": ["a"]},
                probabilities=[0.25, 0.25, 0.5],
            )
        ]
    )
    assert batch.event_times == [1_769_860_800_000]
    assert batch.metadata == [{"shift": "2", "ok": "true", "tags": '["a"]'}]
    assert np.frombuffer(batch.probabilities[0], dtype="<f4").tolist() == [0.25, 0.25, 0.5]


def test_without_classes_probabilities_need_two_values_and_one_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALSTREAM_TASK__CLASSES", raising=False)
    settings = load_settings(ingest={"embedding_dim": DIM})
    batch = ItemValidator(settings=settings).prepare_records(
        [good(probabilities=[0.5, 0.5]), good(probabilities=[1.0]), good(probabilities=[0.2, 0.3, 0.5])]
    )
    assert [r.reason for r in batch.rejections] == [R.PROBABILITIES_LENGTH, R.PROBABILITIES_LENGTH]
    assert [r.index for r in batch.rejections] == [1, 2]


def test_default_source_fills_missing_sources(settings: AlstreamSettings) -> None:
    assert reason_of(settings, good(source=_DROP), default_source="file") is None
    batch = ItemValidator(settings=settings, default_source="file").prepare_records(
        [good(source=_DROP), good()]
    )
    assert batch.sources == ["file", "cam"]


def test_batch_keeps_valid_rows_in_order_and_indexes_rejections(settings: AlstreamSettings) -> None:
    items = [good(item_id=f"i{k}", embedding=[float(k)] * DIM) for k in range(6)]
    items[1]["embedding"] = [1.0]
    items[4]["item_id"] = ""
    batch = ItemValidator(settings=settings).prepare_records(items, first_index=100)
    assert batch.item_ids == ["i0", "i2", "i3", "i5"]
    assert batch.positions == [100, 102, 103, 105]
    assert batch.embeddings[:, 0].tolist() == [0.0, 2.0, 3.0, 5.0]
    assert [(r.index, r.item_id, r.reason) for r in batch.rejections] == [
        (101, "i1", R.EMBEDDING_DIM),
        (104, "", R.ID_LENGTH),
    ]
    assert "expected 8" in batch.rejections[0].message


def test_columns_path_applies_the_same_rules(settings: AlstreamSettings) -> None:
    embeddings = np.ones((4, DIM), dtype=np.float64)
    embeddings[2, 3] = np.nan
    probabilities = np.tile([0.2, 0.3, 0.5], (4, 1))
    probabilities[3] = [0.9, 0.9, 0.9]
    batch = ItemValidator(settings=settings).prepare_columns(
        item_ids=["a", "", "c", "d"],
        embeddings=embeddings,
        source="cam",
        probabilities=probabilities,
        event_time_ms=np.array([1, 2, 3, 4]),
    )
    assert [(r.index, r.reason) for r in batch.rejections] == [
        (1, R.ID_LENGTH),
        (2, R.NOT_FINITE),
        (3, R.PROBABILITIES_SUM),
    ]
    assert batch.item_ids == ["a"] and list(batch.event_times) == [1]
    negative = ItemValidator(settings=settings).prepare_columns(
        item_ids=["a", "b"], embeddings=np.ones((2, DIM)), source="cam", event_time_ms=np.array([-1, 5])
    )
    assert [(r.index, r.reason) for r in negative.rejections] == [(0, R.EVENT_TIME)]
    assert list(negative.event_times) == [5]
    wrong_dim = ItemValidator(settings=settings).prepare_columns(
        item_ids=["a", "b"], embeddings=np.ones((2, DIM + 1)), source="cam"
    )
    assert {r.reason for r in wrong_dim.rejections} == {R.EMBEDDING_DIM} and len(wrong_dim) == 0
    with pytest.raises(ValueError, match="shape"):
        ItemValidator(settings=settings).prepare_columns(
            item_ids=["a"], embeddings=np.ones(DIM), source="cam"
        )


@pytest.mark.parametrize(
    "field", ["source", "unit_of_work", "parent_id", "uri", "metadata", "hardness", "event_time"]
)
def test_arrays_in_scalar_fields_are_refused_not_raised(settings: AlstreamSettings, field: str) -> None:
    items = [good(item_id="ok"), good(item_id="odd", **{field: np.array([1.0, 2.0])})]
    batch = ItemValidator(settings=settings).prepare_records(items)
    assert batch.item_ids == ["ok"]
    assert [r.item_id for r in batch.rejections] == ["odd"]
