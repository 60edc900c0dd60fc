"""The docs state the contracts as the code applies them: every reason code a contract table in docs/
lists exists in the code for that record type, and every reason the code can give is in the table.

A table is marked ``<!-- contract: <record type> -->`` on the line before it and has a ``reason``
column holding backticked codes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from alstream.contracts import (
    annotator_events,
    assignments,
    calibration,
    candidates,
    exceptions,
    items,
    labels,
)
from alstream.streams.exceptions import DecodeError

DOCS = Path(__file__).resolve().parents[3] / "docs"
DECODE_ERRORS = tuple(error.__name__ for error in DecodeError.__subclasses__())
IN_CODE: dict[str, set[str]] = {
    "items": {*items.ALL_REASONS, *DECODE_ERRORS},
    "labels": {*labels.REASONS, *DECODE_ERRORS},
    "annotator-events": {*annotator_events.REASONS, *DECODE_ERRORS},
    "assignments": set(assignments.REASONS),
    "candidates": {*candidates.REASONS, *DECODE_ERRORS},
    "calibration": {*calibration.REASONS, *DECODE_ERRORS},
}
MARKER = re.compile(r"<!-- contract: ([a-z-]+) -->")


def documented() -> dict[str, list[tuple[str, set[str]]]]:
    """Record type -> [(doc file, reason codes of its table)] over every doc."""
    tables: dict[str, list[tuple[str, set[str]]]] = {}
    for path in sorted(DOCS.glob("*.md")):
        lines = path.read_text().splitlines()
        for at, line in enumerate(lines):
            marker = MARKER.search(line)
            if not marker:
                continue
            header = [cell.strip() for cell in lines[at + 1].strip("|").split("|")]
            column = header.index("reason")
            codes: set[str] = set()
            for row in lines[at + 3 :]:
                if not row.startswith("|"):
                    break
                cell = [c.strip() for c in row.strip("|").split("|")][column]
                codes |= set(re.findall(r"`([^`]+)`", cell))
            tables.setdefault(marker.group(1), []).append((path.name, codes))
    return tables


def test_every_record_type_has_exactly_one_contract_table() -> None:
    assert {kind: len(found) for kind, found in documented().items()} == dict.fromkeys(IN_CODE, 1)


@pytest.mark.parametrize("kind", sorted(IN_CODE))
def test_documented_reasons_are_the_code_reasons(kind: str) -> None:
    ((doc, codes),) = documented()[kind]
    assert codes - IN_CODE[kind] == set(), f"{doc} lists reasons the code never gives"
    assert IN_CODE[kind] - codes == set(), f"{doc} misses reasons the code gives"


def test_every_violation_class_is_some_record_types_reason() -> None:
    bases = {exceptions.ContractViolation, exceptions.InvalidItem, exceptions.InvalidLabel}
    classes = {
        value.__name__
        for value in vars(exceptions).values()
        if isinstance(value, type) and issubclass(value, exceptions.ContractViolation) and value not in bases
    }
    assert classes <= set().union(*IN_CODE.values())
