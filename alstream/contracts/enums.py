"""The enums of the Avro contracts, read from the schema catalogue (``schemas/*.avsc``), never retyped.

Code that needs a symbol list imports it from here; a unit test fails when any enum in code differs
from its schema.
"""

from __future__ import annotations

from typing import Any

from alstream.streams.exceptions import SchemaCatalogError
from alstream.streams.schemas import default_catalog


def _walk(schema: Any, found: dict[str, tuple[str, ...]]) -> None:
    if isinstance(schema, dict):
        if schema.get("type") == "enum":
            found[schema["name"].rsplit(".", 1)[-1]] = tuple(schema["symbols"])
        for value in schema.values():
            _walk(value, found)
    elif isinstance(schema, list):
        for value in schema:
            _walk(value, found)


def enums_of(topic_key: str) -> dict[str, tuple[str, ...]]:
    """Every enum of the current schema of ``topic_key``, by its short name, symbols in Avro order."""
    found: dict[str, tuple[str, ...]] = {}
    _walk(default_catalog().current(topic_key).schema, found)
    return found


def enum_symbols(topic_key: str, name: str) -> tuple[str, ...]:
    """The symbols of enum ``name`` in the current schema of ``topic_key`` (Avro order = wire index)."""
    return enums_of(topic_key)[name]


def member(symbol: str, symbols: tuple[str, ...]) -> str:
    """A symbol the rules name on purpose; a schema that drops it fails at import, not mid-stream."""
    if symbol not in symbols:
        raise SchemaCatalogError(f"the schemas no longer define {symbol!r} (have {', '.join(symbols)})")
    return symbol


UNITS_OF_WORK = enum_symbols("items", "UnitOfWork")
UNIT_CODES = {name: code for code, name in enumerate(UNITS_OF_WORK)}
ASSIGNMENT_KINDS = enum_symbols("assignments", "AssignmentKind")
CANDIDATE_REASONS = enum_symbols("candidates", "CandidateReason")
LABEL_STATUSES = enum_symbols("labels", "LabelStatus")
ANNOTATOR_EVENT_TYPES = enum_symbols("annotator-events", "AnnotatorEventType")
ROUTER_STATUS_KINDS = enum_symbols("router-status", "RouterStatusKind")
UNSERVED_REASONS = enum_symbols("router-status", "UnservedReason")  # in the order status shows them

WHOLE_ITEM = member("ITEM", UNITS_OF_WORK)  # the one unit of work that needs no parent_id
ANSWERED = member("LABELED", LABEL_STATUSES)  # the one status that carries a value
READY = member("READY", ANNOTATOR_EVENT_TYPES)  # the event that carries ready_for
ANNOTATOR_STATUS = member("ANNOTATOR", ROUTER_STATUS_KINDS)  # one annotator on one shard
SHARD_STATUS = member("SHARD", ROUTER_STATUS_KINDS)  # a shard's pool and presence counts
