"""What the SDK reports back: the refused items (with their reason code) and the delivery failures.

The reason codes are the item contract's (:mod:`alstream.contracts.items`), re-exported here for the
SDK's callers: the scorer dead-letters an item that bypassed the SDK with the same code.
"""

from __future__ import annotations

from dataclasses import dataclass

from alstream.contracts.items import (
    BAD_TYPE,
    EMBEDDING_DIM,
    EVENT_TIME,
    HARDNESS,
    ID_LENGTH,
    MISSING_FIELD,
    NOT_FINITE,
    PROBABILITIES_LENGTH,
    PROBABILITIES_RANGE,
    PROBABILITIES_SUM,
    UNIT_OF_WORK,
    UNKNOWN_FIELD,
    UNPARSEABLE,
)
from alstream.contracts.items import SDK_REASONS as ALL_REASONS

__all__ = [
    "ALL_REASONS",
    "BAD_TYPE",
    "EMBEDDING_DIM",
    "EVENT_TIME",
    "HARDNESS",
    "ID_LENGTH",
    "MISSING_FIELD",
    "NOT_FINITE",
    "PROBABILITIES_LENGTH",
    "PROBABILITIES_RANGE",
    "PROBABILITIES_SUM",
    "UNIT_OF_WORK",
    "UNKNOWN_FIELD",
    "UNPARSEABLE",
    "DeliveryFailure",
    "Rejection",
]


@dataclass(frozen=True)
class Rejection:
    """One refused item: where it was in the input, why (a bounded code) and the detail."""

    index: int  # position in the batch passed to send_many / the row number a file reader gave it
    item_id: str | None
    reason: str
    message: str


@dataclass(frozen=True)
class DeliveryFailure:
    """An item the broker did not acknowledge (after librdkafka's own retries)."""

    item_id: str
    error: str
