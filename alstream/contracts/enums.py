"""The enums of the Avro contracts, read from the schema catalogue (``schemas/*.avsc``), never retyped.

Code that needs a symbol list imports it from here; a unit test fails when any enum in code differs
from its schema.
"""

from __future__ import annotations

from alstream.streams.exceptions import SchemaCatalogError
from alstream.streams.schemas import enum_symbols, enums_of

__all__ = ["enum_symbols", "enums_of", "member"]


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
