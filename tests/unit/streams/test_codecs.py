"""Codecs: round trips for every schema, fingerprint resolution, Confluent byte-compatibility, evolution."""

from __future__ import annotations

import json
import random
import struct
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro.utils import generate_many

from alstream.settings import load_settings
from alstream.streams.codecs import (
    CONFLUENT_MAGIC,
    SINGLE_OBJECT_MAGIC,
    ConfluentCodec,
    SingleObjectCodec,
    codec_for,
)
from alstream.streams.exceptions import (
    DecodeError,
    EncodeError,
    SchemaCatalogError,
    SchemaMismatch,
    TruncatedRecord,
    UnknownSchema,
    WrongMagic,
)
from alstream.streams.schemas import SchemaCatalog, default_catalog, default_schema_dir
from tests.support.schemas import catalog_with_old_current

TOPIC_KEYS = default_catalog().topic_keys


def item(item_id: str = "item-1", **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "item_id": item_id,
        "source": "camera-7",
        "unit_of_work": "ITEM",
        "parent_id": None,
        "embedding": np.arange(64, dtype="<f4").tobytes(),
        "probabilities": np.array([0.25, 0.75], dtype="<f4").tobytes(),
        "hardness": None,
        "uri": "s3://bucket/item-1.jpg",
        "metadata": {"site": "berlin"},
        "event_time": 1_700_000_000_123,
    }
    record.update(changes)
    return record


def test_catalogue_covers_every_topic_and_history() -> None:
    catalog = default_catalog()
    assert set(TOPIC_KEYS) >= {"items", "scores", "candidates", "labels", "dead-letters", "assignments"}
    old = [v for v in catalog.versions() if not v.is_current]
    assert {v.topic_key for v in old} >= {"items"}
    assert all(len(v.fingerprint) == 8 for v in catalog.versions())


@pytest.mark.parametrize("topic_key", TOPIC_KEYS)
def test_round_trip_every_schema(topic_key: str) -> None:
    codec = SingleObjectCodec(topic_key)
    raw = SingleObjectCodec(topic_key, raw_timestamps=True)
    random.seed(topic_key)
    for record in generate_many(codec.schema, 25):
        encoded = codec.encode(record)
        assert encoded[:2] == SINGLE_OBJECT_MAGIC
        assert encoded[2:10] == default_catalog().current(topic_key).fingerprint
        # decoding then re-encoding gives the same bytes, whatever the logical types decode to
        assert codec.encode(codec.decode(encoded)) == encoded
        assert raw.encode(raw.decode(encoded)) == encoded
    assert codec.decode_many([encoded, encoded]) == [codec.decode(encoded)] * 2


def test_item_values_survive_round_trip() -> None:
    codec = SingleObjectCodec("items", raw_timestamps=True)
    record = item()
    decoded = codec.decode(codec.encode(record))
    assert decoded == record
    assert np.array_equal(np.frombuffer(decoded["embedding"], dtype="<f4"), np.arange(64, dtype="<f4"))


def test_timestamps_decode_as_datetimes_unless_raw() -> None:
    encoded = SingleObjectCodec("items").encode(item())
    assert SingleObjectCodec("items").decode(encoded)["event_time"].timestamp() == pytest.approx(
        1_700_000_000.123
    )
    assert SingleObjectCodec("items", raw_timestamps=True).decode(encoded)["event_time"] == 1_700_000_000_123


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", TruncatedRecord),
        (b"\xc3\x01\x00", TruncatedRecord),
        (b"\x00" * 20, WrongMagic),
        (b"\xc3\x01" + b"\xff" * 8 + b"\x00", UnknownSchema),
    ],
)
def test_bad_bytes_raise_decode_errors(data: bytes, error: type[DecodeError]) -> None:
    with pytest.raises(error):
        SingleObjectCodec("items").decode(data)


def test_truncated_and_trailing_bodies_are_detected() -> None:
    codec = SingleObjectCodec("items")
    encoded = codec.encode(item())
    with pytest.raises(DecodeError):
        codec.decode(encoded[:-3])
    with pytest.raises(SchemaMismatch, match="trailing"):
        codec.decode(encoded + b"\x00")


def test_record_of_another_topic_is_refused() -> None:
    label_bytes = SingleObjectCodec("scores").encode(
        next(iter(generate_many(SingleObjectCodec("scores").schema, 1)))
    )
    with pytest.raises(UnknownSchema, match="scores"):
        SingleObjectCodec("items").decode(label_bytes)


def test_record_not_fitting_schema_raises_encode_error() -> None:
    codec = SingleObjectCodec("items")
    with pytest.raises(EncodeError):
        codec.encode({"item_id": "x"})
    with pytest.raises(EncodeError):
        codec.encode(item(unit_of_work="GALAXY"))


# --- schema evolution: schemas/history/items.v1.avsc is items without the optional `uri` field ---


def _history_v1() -> SingleObjectCodec:
    """A codec writing with the v1 items schema: a catalogue whose current items schema is the old one."""
    return SingleObjectCodec("items", catalog=catalog_with_old_current("items"))


def test_history_file_differs_only_by_optional_uri() -> None:
    v1 = json.loads((default_schema_dir() / "history" / "items.v1.avsc").read_text())
    now = json.loads((default_schema_dir() / "items.avsc").read_text())
    assert [f["name"] for f in now["fields"] if f not in v1["fields"]] == ["uri"]


def test_old_writer_new_reader() -> None:
    old = _history_v1()
    record = item()
    del record["uri"]
    encoded = old.encode(record)
    assert encoded[2:10] != default_catalog().current("items").fingerprint
    decoded = SingleObjectCodec("items", raw_timestamps=True).decode(encoded)
    assert decoded["uri"] is None  # the new field's default
    assert decoded["item_id"] == "item-1"
    assert decoded["embedding"] == record["embedding"]


def test_new_writer_old_reader() -> None:
    old = _history_v1()
    encoded = SingleObjectCodec("items").encode(item(uri="http://x/1.png"))
    decoded = old.decode(encoded)  # the old reader resolves the new writer and drops the new field
    assert "uri" not in decoded
    assert decoded["metadata"] == {"site": "berlin"}


def test_catalog_refuses_two_current_schemas_for_one_topic(tmp_path: Path) -> None:
    text = (default_schema_dir() / "items.avsc").read_text()
    (tmp_path / "items.avsc").write_text(text)
    (tmp_path / "history").mkdir()
    (tmp_path / "history" / "items.v1.avsc").write_text(text)  # same schema as history: allowed, same fp
    assert SchemaCatalog.load(tmp_path).topic_keys == ["items"]
    with pytest.raises(SchemaCatalogError):
        SchemaCatalog.load(tmp_path / "absent")


# --- Confluent wire format, byte-compatible with confluent-kafka's own serializers ---


@pytest.fixture
def registry() -> SchemaRegistryClient:
    return SchemaRegistryClient.new_client({"url": f"mock://{uuid.uuid4().hex}"})


def test_confluent_bytes_match_avro_serializer(registry: SchemaRegistryClient) -> None:
    subject_topic = "alstream.items"
    codec = ConfluentCodec("items", registry=registry, subject=f"{subject_topic}-value")
    serializer = AvroSerializer(
        registry,
        schema_str=None,
        conf={"auto.register.schemas": False, "use.latest.version": True},
    )
    ctx = SerializationContext(subject_topic, MessageField.VALUE)
    record = item()
    theirs = serializer(record, ctx)
    ours = codec.encode(record)
    assert ours == theirs
    assert ours[0] == CONFLUENT_MAGIC
    assert struct.unpack(">I", ours[1:5])[0] == codec.schema_id


def test_confluent_codec_and_avro_deserializer_read_each_other(registry: SchemaRegistryClient) -> None:
    subject_topic = "alstream.items"
    codec = ConfluentCodec("items", registry=registry, subject=f"{subject_topic}-value")
    deserializer = AvroDeserializer(registry)
    ctx = SerializationContext(subject_topic, MessageField.VALUE)
    record = item()
    theirs = deserializer(codec.encode(record), ctx)
    assert theirs["item_id"] == record["item_id"]
    assert theirs["embedding"] == record["embedding"]
    # a serializer registering its own copy of the schema text (another id) is read through the registry
    other = AvroSerializer(
        registry, schema_str=json.dumps(json.loads((default_schema_dir() / "items.avsc").read_text()))
    )
    decoded = codec.decode(other(record, ctx))
    assert decoded["item_id"] == "item-1"
    assert decoded["uri"] == record["uri"]


def test_confluent_unknown_id_and_bad_magic(registry: SchemaRegistryClient) -> None:
    codec = ConfluentCodec("items", registry=registry, subject="alstream.items-value")
    with pytest.raises(UnknownSchema):
        codec.decode(b"\x00\x00\x00\x03\xe7" + b"\x00")
    with pytest.raises(WrongMagic):
        codec.decode(b"\xc3\x01" + b"\x00" * 10)
    with pytest.raises(TruncatedRecord):
        codec.decode(b"\x00\x00")


def test_codec_for_follows_settings(monkeypatch: pytest.MonkeyPatch, registry: SchemaRegistryClient) -> None:
    monkeypatch.delenv("ALSTREAM_CODEC__WIRE_FORMAT", raising=False)
    assert isinstance(codec_for("items", load_settings()), SingleObjectCodec)
    confluent = load_settings(codec={"wire_format": "confluent", "schema_registry_url": "mock://x"})
    codec = codec_for("items", confluent, registry=registry)
    assert isinstance(codec, ConfluentCodec)
    assert registry.get_latest_version(f"{confluent.kafka.topic('items')}-value").schema_id == codec.schema_id


def test_registry_stores_the_schema_with_its_defaults(registry: SchemaRegistryClient) -> None:
    codec = ConfluentCodec("items", registry=registry, subject="alstream.items-value")
    stored = json.loads(registry.get_schema(codec.schema_id).schema_str)
    uri = next(f for f in stored["fields"] if f["name"] == "uri")
    assert "default" in uri and uri["default"] is None


def test_confluent_old_writer_new_reader_through_registry(registry: SchemaRegistryClient) -> None:
    old = _history_v1()
    v1 = next(v for v in default_catalog().versions() if v.topic_key == "items" and not v.is_current)
    old_codec = ConfluentCodec(
        "items", registry=registry, subject="alstream.items-value", catalog=old._catalog
    )
    record = item()
    del record["uri"]
    old_bytes = old_codec.encode(record)
    new_codec = ConfluentCodec("items", registry=registry, subject="alstream.items-value")
    assert new_codec.schema_id != old_codec.schema_id
    decoded = new_codec.decode(old_bytes)
    assert decoded["uri"] is None and decoded["item_id"] == "item-1"
    assert old_codec.decode(new_codec.encode(item()))["item_id"] == "item-1"
    assert v1.source_json and json.loads(v1.source_json)["name"] == "Item"
