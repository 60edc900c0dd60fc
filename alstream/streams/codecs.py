"""Avro value codecs: single-object encoding (default) and the Confluent wire format.

Single-object encoding (Avro spec): ``C3 01`` + 8-byte CRC-64-AVRO fingerprint of the writer schema +
the Avro body. Readers find the writer schema by fingerprint in the :class:`SchemaCatalog`, so no
registry server is needed. The Confluent format (``00`` + 4-byte big-endian schema id + body) talks to
a Schema Registry through confluent-kafka's own client, byte-compatible with its AvroSerializer.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterable
from typing import Any, Protocol

import fastavro
from fastavro import schemaless_reader, schemaless_writer

from alstream.streams.config import StreamsConfig
from alstream.streams.exceptions import (
    EncodeError,
    SchemaMismatch,
    TruncatedRecord,
    UnknownSchema,
    WrongMagic,
)
from alstream.streams.schemas import (
    SchemaCatalog,
    default_catalog,
    fingerprint_of,
    parse,
    without_logical_types,
)

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
SINGLE_OBJECT_HEADER = 10
CONFLUENT_MAGIC = 0
CONFLUENT_HEADER = 5


class RecordCodec(Protocol):
    """Turns records of one topic into value bytes and back."""

    topic_key: str

    def encode(self, record: dict[str, Any]) -> bytes: ...

    def decode(self, data: bytes | None) -> dict[str, Any]: ...


# Any client can produce a record with no value; every reader must treat it as undecodable, not crash.
TOMBSTONE = "record has no value (a tombstone)"

# Milliseconds since the epoch that a reader can still turn into a datetime (years 1-9999).
_MIN_TS_MS = -62_135_596_800_000
_MAX_TS_MS = 253_402_300_799_999


def _timestamp_fields(schema: dict[str, Any]) -> tuple[str, ...]:
    """Top-level fields whose type (or nullable union member) is timestamp-millis."""
    names = []
    for field in schema.get("fields", []):
        types = field["type"] if isinstance(field["type"], list) else [field["type"]]
        if any(isinstance(t, dict) and t.get("logicalType") == "timestamp-millis" for t in types):
            names.append(field["name"])
    return tuple(names)


def _check_timestamps(timestamp_fields: tuple[str, ...], record: dict[str, Any], topic_key: str) -> None:
    """fastavro writes any integer as timestamp-millis; refuse ones no reader could turn back into a date."""
    for name in timestamp_fields:
        value = record.get(name) if isinstance(record, dict) else None
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and not _MIN_TS_MS <= value <= _MAX_TS_MS  # NaN fails the comparison too
        ):
            raise EncodeError(
                f"{topic_key} record does not fit its schema: {name}={value!r} is not a "
                "timestamp between years 1 and 9999 (milliseconds since the epoch)"
            )


def _encode_body(
    schema: dict[str, Any], timestamp_fields: tuple[str, ...], record: dict[str, Any], topic_key: str
) -> bytes:
    _check_timestamps(timestamp_fields, record, topic_key)
    buffer = io.BytesIO()
    try:
        schemaless_writer(buffer, schema, record, strict_allow_default=True)
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError, struct.error) as exc:
        raise EncodeError(f"{topic_key} record does not fit its schema: {exc}") from exc
    return buffer.getvalue()


def _decode_body(
    data: bytes, offset: int, writer: dict[str, Any], reader: dict[str, Any] | None
) -> dict[str, Any]:
    stream = io.BytesIO(data)
    stream.seek(offset)
    try:
        record = schemaless_reader(stream, writer, reader)
    except fastavro.read.SchemaResolutionError as exc:
        raise SchemaMismatch(f"writer schema cannot be read as the reader schema: {exc}") from exc
    except (EOFError, StopIteration) as exc:
        raise TruncatedRecord("record body ends early") from exc
    except (
        ValueError,
        TypeError,
        IndexError,
        UnicodeDecodeError,
        OverflowError,
        MemoryError,
        KeyError,
    ) as exc:
        raise SchemaMismatch(
            f"record body does not match its writer schema: {type(exc).__name__}: {exc}"
        ) from exc
    if stream.tell() != len(data):
        raise SchemaMismatch(f"{len(data) - stream.tell()} trailing bytes after the record body")
    if not isinstance(record, dict):
        raise SchemaMismatch("record body is not a record")
    return record


class SingleObjectCodec:
    """Avro single-object encoding against the schema catalogue.

    ``raw_timestamps=True`` reads timestamp fields as integer milliseconds, for hot paths.
    """

    def __init__(
        self,
        topic_key: str,
        *,
        catalog: SchemaCatalog | None = None,
        raw_timestamps: bool = False,
    ) -> None:
        self.topic_key = topic_key
        self._catalog = catalog or default_catalog()
        current = self._catalog.current(topic_key)
        self._writer_schema = current.schema
        self._timestamp_fields = _timestamp_fields(current.schema)  # once, not per record
        self._header = SINGLE_OBJECT_MAGIC + current.fingerprint
        self._raw_timestamps = raw_timestamps
        self._reader_schema = (
            parse(without_logical_types(current.schema)) if raw_timestamps else current.schema
        )
        # writer fingerprint -> (writer schema, reader schema or None when identical)
        self._readers: dict[bytes, tuple[dict[str, Any], dict[str, Any] | None]] = {}

    @property
    def header(self) -> bytes:
        """The 10 bytes every record this codec writes starts with."""
        return self._header

    @property
    def schema(self) -> dict[str, Any]:
        return self._writer_schema

    def encode(self, record: dict[str, Any]) -> bytes:
        return self._header + _encode_body(
            self._writer_schema, self._timestamp_fields, record, self.topic_key
        )

    def decode(self, data: bytes | None) -> dict[str, Any]:
        if data is None:
            raise TruncatedRecord(TOMBSTONE)
        if len(data) < SINGLE_OBJECT_HEADER:
            raise TruncatedRecord(f"{len(data)} bytes is shorter than the 10-byte single-object header")
        if data[:2] != SINGLE_OBJECT_MAGIC:
            raise WrongMagic(f"expected Avro single-object marker c301, got {bytes(data[:2]).hex()}")
        fp = bytes(data[2:SINGLE_OBJECT_HEADER])
        resolved = self._readers.get(fp)
        if resolved is None:
            resolved = self._resolve(fp)
        writer, reader = resolved
        return _decode_body(data, SINGLE_OBJECT_HEADER, writer, reader)

    def decode_many(self, values: Iterable[bytes]) -> list[dict[str, Any]]:
        return [self.decode(value) for value in values]

    def _resolve(self, fp: bytes) -> tuple[dict[str, Any], dict[str, Any] | None]:
        version = self._catalog.by_fingerprint(fp)
        if version.topic_key != self.topic_key:
            raise UnknownSchema(
                f"record was written with the {version.topic_key!r} schema, not {self.topic_key!r}"
            )
        writer = version.schema
        if self._raw_timestamps:
            writer = parse(without_logical_types(writer))
        same = version.fingerprint == self._header[2:] and not self._raw_timestamps
        resolved = (writer, None if same else self._reader_schema)
        self._readers[fp] = resolved
        return resolved


class ConfluentCodec:
    """The Confluent Schema Registry wire format (magic 0 + 4-byte schema id + Avro body).

    Registers the current schema under ``<topic>-value`` (TopicNameStrategy, as confluent-kafka's
    AvroSerializer does) and resolves writer schemas by id through the registry client.
    """

    def __init__(
        self,
        topic_key: str,
        *,
        registry: Any,
        subject: str,
        catalog: SchemaCatalog | None = None,
    ) -> None:
        from confluent_kafka.schema_registry import Schema

        self.topic_key = topic_key
        self._registry = registry
        catalog = catalog or default_catalog()
        current = catalog.current(topic_key)
        self._writer_schema = current.schema
        self._timestamp_fields = _timestamp_fields(current.schema)  # once, not per record
        # register the schema as written: the canonical form drops defaults, which the registry's
        # compatibility checks and other readers need for schema evolution
        schema_text = current.source_json or current.canonical_form
        self._schema_id = int(registry.register_schema(subject, Schema(schema_text, "AVRO")))
        self._header = struct.pack(">bI", CONFLUENT_MAGIC, self._schema_id)
        self._readers: dict[int, dict[str, Any]] = {self._schema_id: current.schema}
        self._reader_schema = current.schema

    @property
    def schema_id(self) -> int:
        return self._schema_id

    @property
    def header(self) -> bytes:
        """Magic byte 0 + the registry's schema id: the 5 bytes every record of this codec starts with."""
        return self._header

    def encode(self, record: dict[str, Any]) -> bytes:
        return self._header + _encode_body(
            self._writer_schema, self._timestamp_fields, record, self.topic_key
        )

    def decode(self, data: bytes | None) -> dict[str, Any]:
        if data is None:
            raise TruncatedRecord(TOMBSTONE)
        if len(data) < CONFLUENT_HEADER:
            raise TruncatedRecord(f"{len(data)} bytes is shorter than the 5-byte Confluent header")
        if data[0] != CONFLUENT_MAGIC:
            raise WrongMagic(f"expected Confluent magic byte 00, got {data[0]:02x}")
        (schema_id,) = struct.unpack(">I", data[1:CONFLUENT_HEADER])
        writer = self._readers.get(schema_id)
        if writer is None:
            try:
                registered = self._registry.get_schema(schema_id)
            except Exception as exc:  # the registry client raises its own error types
                raise UnknownSchema(f"schema id {schema_id} is not in the registry: {exc}") from exc
            writer = parse(json.loads(registered.schema_str))
            self._readers[schema_id] = writer
        reader = None if schema_id == self._schema_id else self._reader_schema
        return _decode_body(data, CONFLUENT_HEADER, writer, reader)

    def decode_many(self, values: Iterable[bytes]) -> list[dict[str, Any]]:
        return [self.decode(value) for value in values]


def header_of(codec: RecordCodec) -> bytes | None:
    """The bytes every record of ``codec`` starts with, when the wire format has a constant header.

    The hand-written encoders (items, scores) write that header, then an Avro body they build faster
    than fastavro; the body is the same in both wire formats."""
    if isinstance(codec, (SingleObjectCodec, ConfluentCodec)):
        return codec.header
    return None


def codec_for(
    topic_key: str,
    config: StreamsConfig,
    *,
    catalog: SchemaCatalog | None = None,
    registry: Any | None = None,
) -> RecordCodec:
    """The codec ``config.codec`` asks for, for one topic of the catalogue (``config.kafka`` names the
    registry subject)."""
    codec = config.codec
    if codec.wire_format == "single-object":
        return SingleObjectCodec(topic_key, catalog=catalog)
    if registry is None:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        conf: dict[str, Any] = {"url": codec.schema_registry_url}
        if codec.schema_registry_username:
            password = codec.schema_registry_password
            conf["basic.auth.user.info"] = (
                f"{codec.schema_registry_username}:{password.get_secret_value() if password else ''}"
            )
        registry = SchemaRegistryClient.new_client(conf)  # "mock://..." URLs give the in-memory client
    subject = f"{config.kafka.topic(topic_key)}-value"
    return ConfluentCodec(topic_key, registry=registry, subject=subject, catalog=catalog)


__all__ = [
    "CONFLUENT_MAGIC",
    "SINGLE_OBJECT_MAGIC",
    "ConfluentCodec",
    "RecordCodec",
    "SingleObjectCodec",
    "codec_for",
    "fingerprint_of",
]
