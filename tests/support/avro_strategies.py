"""Hypothesis strategies that build valid records for any Avro schema of the catalogue.

Valid records are the seeds the fuzzers damage (truncate, flip, re-stamp); generating them from the
schema keeps the fuzzers right when a schema evolves.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import strategies as st

LONG = (-(2**63), 2**63 - 1)
INT = (-(2**31), 2**31 - 1)


def records(schema: Any, named: dict[str, Any] | None = None) -> st.SearchStrategy[Any]:
    named = {} if named is None else named
    if isinstance(schema, str):
        if schema in named:
            return records(named[schema], named)
        return _primitive(schema)
    if isinstance(schema, list):
        return st.one_of([records(branch, named) for branch in schema])
    kind = schema["type"]
    if schema.get("name"):
        named[schema["name"]] = schema
    if kind == "record":
        return st.fixed_dictionaries({f["name"]: records(f["type"], named) for f in schema["fields"]})
    if kind == "enum":
        return st.sampled_from(schema["symbols"])
    if kind == "array":
        return st.lists(records(schema["items"], named), max_size=4)
    if kind == "map":
        return st.dictionaries(st.text(max_size=8), records(schema["values"], named), max_size=3)
    if kind == "fixed":
        return st.binary(min_size=schema["size"], max_size=schema["size"])
    if schema.get("logicalType") == "timestamp-millis":
        return st.datetimes(
            min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
        )
    return _primitive(kind)


def _primitive(kind: str) -> st.SearchStrategy[Any]:
    return {
        "null": st.none(),
        "boolean": st.booleans(),
        "int": st.integers(*INT),
        "long": st.integers(*LONG),
        "float": st.floats(width=32),
        "double": st.floats(),
        "bytes": st.binary(max_size=64),
        "string": st.text(max_size=24),
    }[kind]
