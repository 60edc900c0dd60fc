"""Enums in code are the schemas' enums: read from ``schemas/*.avsc``, never retyped.

The schemas are read here as plain JSON (not through alstream's catalogue), so a catalogue bug cannot
hide a difference. Code that needs a subset of an enum (the kinds that count as overlap copies...)
must name real symbols; code that needs the whole list must import it from alstream.contracts.enums.
"""

from __future__ import annotations

import ast
import json
import typing
from pathlib import Path
from typing import Any

from alstream.agents.release.compaction import SECONDARY_KINDS
from alstream.agents.router.pool import SOURCE_OF_REASON
from alstream.agents.router.state import KIND_OF_SOURCE
from alstream.agents.scorer.window import REASON_ORDER
from alstream.agents.selection.policy import UnitOfWork
from alstream.contracts import enums
from alstream.demo.report import HARD_KINDS

ROOT = Path(__file__).resolve().parents[3]
SCHEMAS = ROOT / "schemas"


def schema_enums() -> dict[str, tuple[str, ...]]:
    """Every enum of every current schema file, by name (one name, one symbol list, in every file)."""
    found: dict[str, tuple[str, ...]] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "enum":
                symbols = tuple(node["symbols"])
                assert found.setdefault(node["name"], symbols) == symbols, (
                    f"{node['name']} differs across files"
                )
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted(SCHEMAS.glob("*.avsc")):
        walk(json.loads(path.read_text()))
    return found


def test_every_schema_enum_is_exposed_with_its_symbols_in_order() -> None:
    in_schemas = schema_enums()
    in_code = {
        "UnitOfWork": enums.UNITS_OF_WORK,
        "AssignmentKind": enums.ASSIGNMENT_KINDS,
        "CandidateReason": enums.CANDIDATE_REASONS,
        "LabelStatus": enums.LABEL_STATUSES,
        "AnnotatorEventType": enums.ANNOTATOR_EVENT_TYPES,
        "RouterStatusKind": enums.ROUTER_STATUS_KINDS,
        "UnservedReason": enums.UNSERVED_REASONS,
    }
    assert in_code == in_schemas  # a new enum in a schema needs its constant here too
    assert {name: i for i, name in enumerate(in_schemas["UnitOfWork"])} == enums.UNIT_CODES


def test_constants_derived_from_enums_name_real_symbols() -> None:
    assert set(SOURCE_OF_REASON) == set(enums.CANDIDATE_REASONS)  # every candidate reason is routed
    assert set(KIND_OF_SOURCE.values()) <= set(enums.ASSIGNMENT_KINDS)
    assert set(SECONDARY_KINDS) <= set(enums.ASSIGNMENT_KINDS)
    assert set(REASON_ORDER) <= set(enums.CANDIDATE_REASONS)
    assert set(enums.ASSIGNMENT_KINDS) >= HARD_KINDS
    # the policy file's unit of work is a pydantic Literal (a type annotation must be literal): same list
    assert typing.get_args(UnitOfWork) == enums.UNITS_OF_WORK


# A typing.Literal annotation has to spell its values; the test above holds it equal to the schema.
ALLOWED_COPIES = {"alstream/agents/selection/policy.py"}


def test_no_module_retypes_a_whole_enum() -> None:
    """A literal list holding every symbol of a schema enum is a second copy: import it instead. (A dict
    that gives each symbol its own meaning, like the router's reason -> source map, is a mapping, not a
    copy; the test above requires it to cover the enum exactly.)"""
    whole = {name: set(symbols) for name, symbols in schema_enums().items()}
    copies = []
    for path in sorted((ROOT / "alstream").rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith("alstream/contracts/") or relative in ALLOWED_COPIES:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=relative)):
            if not isinstance(node, (ast.Tuple, ast.List, ast.Set)):
                continue
            elements = node.elts
            strings = {e.value for e in elements if isinstance(e, ast.Constant) and isinstance(e.value, str)}
            for name, symbols in whole.items():
                if symbols <= strings:
                    copies.append(f"{relative}:{node.lineno} retypes {name}")
    assert copies == []
