"""The Avro contracts in ``schemas/``: loading, fingerprints and lookup by fingerprint.

Current schemas are ``schemas/<topic>.avsc``. Older versions that producers may still write live in
``schemas/history/<topic>.<version>.avsc``: readers resolve them by fingerprint and read them through
Avro schema resolution into the current shape, so a schema change never strands old records.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

from alstream.streams.exceptions import SchemaCatalogError, UnknownSchema

SCHEMA_DIR_ENV = "ALSTREAM_SCHEMA_DIR"


def default_schema_dir() -> Path:
    """``$ALSTREAM_SCHEMA_DIR``, else the copy installed with the package, else the source tree's."""
    override = os.environ.get(SCHEMA_DIR_ENV)
    if override:
        return Path(override)
    source_tree = Path(__file__).resolve().parents[2] / "schemas"
    if source_tree.is_dir():
        return source_tree
    installed = Path(sys.prefix) / "share" / "alstream" / "schemas"
    if installed.is_dir():
        return installed
    raise SchemaCatalogError(
        f"no Avro schemas found in {source_tree} or {installed}: reinstall alstream or set {SCHEMA_DIR_ENV}"
    )


@dataclass(frozen=True)
class SchemaVersion:
    """One parsed schema with its identity."""

    topic_key: str
    full_name: str
    schema: dict[str, Any] = field(repr=False, compare=False)
    canonical_form: str = field(repr=False)
    fingerprint: bytes  # 8 bytes, CRC-64-AVRO, little-endian as in Avro single-object encoding
    path: Path
    is_current: bool
    # The schema as written (compact JSON, with docs and defaults): what a registry must store, since
    # the canonical form drops defaults and readers / compatibility checks need them.
    source_json: str = field(default="", repr=False, compare=False)


def parse(schema_json: dict[str, Any] | str) -> dict[str, Any]:
    """Parse a schema in its own namespace of named types, so files never leak names into each other."""
    raw = json.loads(schema_json) if isinstance(schema_json, str) else schema_json
    parsed = fastavro.parse_schema(copy.deepcopy(raw), named_schemas={})
    if not isinstance(parsed, dict):
        raise SchemaCatalogError(f"a record schema is a JSON object, not {type(parsed).__name__}")
    return parsed


def fingerprint_of(parsed: dict[str, Any]) -> tuple[str, bytes]:
    canonical = to_parsing_canonical_form(parsed)
    return canonical, bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))


def without_logical_types(schema: Any) -> Any:
    """A copy of ``schema`` with logical types removed (timestamps read as plain ints).

    Hot paths decode with this as reader schema: Avro resolution treats it as identical, and it
    avoids building a ``datetime`` per record.
    """
    if isinstance(schema, dict):
        return {k: without_logical_types(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [without_logical_types(v) for v in schema]
    return schema


class SchemaCatalog:
    """All schema versions of one schema folder, by topic and by fingerprint."""

    def __init__(self, versions: list[SchemaVersion]) -> None:
        self._current: dict[str, SchemaVersion] = {}
        self._by_fingerprint: dict[bytes, SchemaVersion] = {}
        for version in versions:
            clash = self._by_fingerprint.get(version.fingerprint)
            if clash is not None and clash.canonical_form != version.canonical_form:
                raise SchemaCatalogError(f"{version.path} and {clash.path} share a fingerprint but differ")
            self._by_fingerprint.setdefault(version.fingerprint, version)
            if version.is_current:
                if version.topic_key in self._current:
                    raise SchemaCatalogError(f"two current schemas for topic {version.topic_key!r}")
                self._current[version.topic_key] = version

    @classmethod
    def load(cls, directory: Path | str | None = None) -> SchemaCatalog:
        root = Path(directory) if directory is not None else default_schema_dir()
        if not root.is_dir():
            raise SchemaCatalogError(f"schema folder {root} does not exist (set {SCHEMA_DIR_ENV})")
        versions = [
            _load_file(path, topic_key=path.stem, is_current=True) for path in sorted(root.glob("*.avsc"))
        ]
        history = root / "history"
        if history.is_dir():
            for path in sorted(history.glob("*.avsc")):
                versions.append(_load_file(path, topic_key=path.name.split(".", 1)[0], is_current=False))
        if not versions:
            raise SchemaCatalogError(f"schema folder {root} holds no .avsc files")
        return cls(versions)

    @property
    def topic_keys(self) -> list[str]:
        return sorted(self._current)

    def current(self, topic_key: str) -> SchemaVersion:
        try:
            return self._current[topic_key]
        except KeyError:
            raise SchemaCatalogError(
                f"no schema for topic {topic_key!r}; known: {', '.join(self.topic_keys)}"
            ) from None

    def by_fingerprint(self, fp: bytes) -> SchemaVersion:
        try:
            return self._by_fingerprint[fp]
        except KeyError:
            raise UnknownSchema(f"unknown writer schema fingerprint {fp.hex()}") from None

    def versions(self) -> list[SchemaVersion]:
        return list(self._by_fingerprint.values())


def _load_file(path: Path, *, topic_key: str, is_current: bool) -> SchemaVersion:
    try:
        raw = json.loads(path.read_text())
        parsed = parse(raw)
    except (OSError, ValueError, fastavro.schema.SchemaParseException) as exc:
        raise SchemaCatalogError(f"{path}: {exc}") from exc
    canonical, fp = fingerprint_of(parsed)
    return SchemaVersion(
        topic_key=topic_key,
        full_name=parsed["name"],
        schema=parsed,
        canonical_form=canonical,
        fingerprint=fp,
        path=path,
        is_current=is_current,
        source_json=json.dumps(raw, separators=(",", ":")),
    )


@lru_cache(maxsize=8)
def default_catalog() -> SchemaCatalog:
    """The process-wide catalogue of the default schema folder."""
    return SchemaCatalog.load()


def _walk_enums(schema: Any, found: dict[str, tuple[str, ...]]) -> None:
    if isinstance(schema, dict):
        if schema.get("type") == "enum":
            found[schema["name"].rsplit(".", 1)[-1]] = tuple(schema["symbols"])
        for value in schema.values():
            _walk_enums(value, found)
    elif isinstance(schema, list):
        for value in schema:
            _walk_enums(value, found)


def enums_of(topic_key: str) -> dict[str, tuple[str, ...]]:
    """Every enum of the current schema of ``topic_key``, by its short name, symbols in Avro order."""
    found: dict[str, tuple[str, ...]] = {}
    _walk_enums(default_catalog().current(topic_key).schema, found)
    return found


def enum_symbols(topic_key: str, name: str) -> tuple[str, ...]:
    """The symbols of enum ``name`` in the current schema of ``topic_key`` (Avro order = wire index)."""
    return enums_of(topic_key)[name]
