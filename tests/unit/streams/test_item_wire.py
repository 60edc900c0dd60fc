"""The specialised items encoder writes exactly what fastavro writes, for every shape of item."""

from __future__ import annotations

import io
import random
import time
import uuid

import numpy as np
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from fastavro import schemaless_writer
from hypothesis import given
from hypothesis import strategies as st

from alstream.ingest import ItemValidator
from alstream.settings import load_settings
from alstream.streams.codecs import ConfluentCodec, SingleObjectCodec, codec_for
from alstream.streams.item_wire import FAST_PATH_FINGERPRINT, ItemEncoder, varints, zigzag_varint
from alstream.streams.schemas import default_catalog

NOW_MS = int(time.time() * 1000)  # the item contract refuses event times beyond the clock-skew allowance

SETTINGS = load_settings(ingest={"embedding_dim": 4}, task={"classes": ["a", "b"]})


def test_fast_path_matches_the_current_items_schema() -> None:
    """Fails when schemas/items.avsc changes: update ItemEncoder and FAST_PATH_FINGERPRINT with it."""
    assert default_catalog().current("items").fingerprint.hex() == FAST_PATH_FINGERPRINT
    assert ItemEncoder(codec=SingleObjectCodec("items")).fast


@given(st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), max_size=50))
def test_varints_match_avro_longs(values: list[int]) -> None:
    expected = []
    for value in values:
        buffer = io.BytesIO()
        schemaless_writer(buffer, "long", value)
        expected.append(buffer.getvalue())
    assert varints(values) == expected
    assert [zigzag_varint(v) for v in values] == expected


def _mixed_items(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    items = []
    for i in range(n):
        item = {
            "item_id": f"id-{i}-" + "é" * rng.randint(0, 3),
            "source": rng.choice(["a", "bb", "ccc"]),
            "embedding": [rng.uniform(-1, 1) for _ in range(4)],
            "event_time": rng.randint(0, NOW_MS),
        }
        if rng.random() < 0.5:
            p = rng.random()
            item["probabilities"] = [p, 1 - p]
        if rng.random() < 0.3:
            item["unit_of_work"] = rng.choice(["OBJECT", "REGION", "PIXEL_MASK"])
            item["parent_id"] = f"parent-{i}"
        if rng.random() < 0.3:
            item["hardness"] = {
                "object_hardness": [rng.random() for _ in range(rng.randint(0, 3))],
                "pixel_uncertain_fraction": rng.choice([None, 0.25]),
            }
        if rng.random() < 0.3:
            item["uri"] = f"s3://bucket/{i}.png"
        if rng.random() < 0.3:
            item["metadata"] = {f"k{j}": "v" * j for j in range(rng.randint(1, 3))}
        items.append(item)
    return items


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_row_path_is_byte_identical_to_fastavro(seed: int) -> None:
    codec = SingleObjectCodec("items")
    encoder = ItemEncoder(codec=codec)
    batch = ItemValidator(settings=SETTINGS).prepare_records(_mixed_items(300, seed))
    assert batch.rejections == []
    assert not encoder._uniform(batch)
    assert encoder.encode(batch) == [codec.encode(r) for r in ItemEncoder.records(batch)]


@pytest.mark.parametrize("with_probabilities", [False, True])
@pytest.mark.parametrize("fixed_width", [False, True])
def test_uniform_path_is_byte_identical_to_fastavro(with_probabilities: bool, fixed_width: bool) -> None:
    codec = SingleObjectCodec("items")
    encoder = ItemEncoder(codec=codec)
    n = 500
    rng = np.random.default_rng(3)
    probabilities = np.tile([0.25, 0.75], (n, 1)) if with_probabilities else None
    if fixed_width:  # same id length, same timestamp varint length: records built as one matrix
        ids = [uuid.UUID(int=int(rng.integers(0, 2**62))).hex for _ in range(n)]
        times = 1_760_000_000_000 + rng.integers(0, 10**9, n)
    else:  # ids past 127 bytes need a 2-byte length prefix; times of every size
        ids = [f"item-{i}" * (1 + i % 40) for i in range(n)]
        times = rng.integers(0, NOW_MS, n)  # 1970 to now: every varint size a valid event_time has
    batch = ItemValidator(settings=SETTINGS).prepare_columns(
        item_ids=ids,
        embeddings=rng.standard_normal((n, 4)),
        source="cam",
        probabilities=probabilities,
        event_time_ms=times,
    )
    assert encoder._uniform(batch)
    values = encoder.encode(batch)
    assert values == [codec.encode(r) for r in ItemEncoder.records(batch)]
    decoded = SingleObjectCodec("items", raw_timestamps=True).decode(values[7])
    assert decoded["item_id"] == batch.item_ids[7]
    assert decoded["event_time"] == batch.event_times[7]


def test_uniform_path_encodes_ids_longer_than_the_length_table() -> None:
    """Length prefixes are precomputed up to 4095 bytes; a longer id (max_id_length has no upper bound)
    takes the computed prefix instead of failing."""
    settings = load_settings(
        ingest={"embedding_dim": 4, "max_id_length": 10_000}, task={"classes": ["a", "b"]}
    )
    codec = codec_for("items", settings)
    encoder = ItemEncoder(codec=codec)
    ids = ["short-1", "x" * 5000, "short-22"]
    batch = ItemValidator(settings=settings).prepare_columns(
        item_ids=ids, embeddings=np.zeros((3, 4)), source="cam", event_time_ms=[1_760_000_000_000] * 3
    )
    assert batch.rejections == [] and encoder.fast and encoder._uniform(batch)
    values = encoder.encode(batch)
    assert values == [codec.encode(r) for r in ItemEncoder.records(batch)]
    assert [codec_for("items", settings).decode(value)["item_id"] for value in values] == ids


def test_confluent_header_and_fallback_without_fast_path() -> None:
    registry = SchemaRegistryClient.new_client({"url": f"mock://{uuid.uuid4().hex}"})
    codec = ConfluentCodec("items", registry=registry, subject="alstream.items-value")
    encoder = ItemEncoder(codec=codec)
    batch = ItemValidator(settings=SETTINGS).prepare_records(_mixed_items(20, 9))
    values = encoder.encode(batch)
    assert values == [codec.encode(r) for r in ItemEncoder.records(batch)]
    assert codec.decode(values[0])["item_id"] == batch.item_ids[0]
    encoder.fast = False  # what happens after a schema change: the generic writer, same bytes
    assert encoder.encode(batch) == values
    assert encoder.encode(ItemValidator(settings=SETTINGS).prepare_records([])) == []
