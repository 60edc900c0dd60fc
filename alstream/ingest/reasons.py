"""The bounded set of reasons an item is refused: metric label values and the rejects file's ``reason``.

Kept as plain strings (not an Enum) so they print, serialise and label metrics without conversion.
"""

from __future__ import annotations

from dataclasses import dataclass

MISSING_FIELD = "missing_field"  # a required field is absent or null
UNKNOWN_FIELD = "unknown_field"  # a field the items contract does not have (typo, wrong column)
BAD_TYPE = "bad_type"  # a field has the wrong type (e.g. metadata not an object)
ID_LENGTH = "id_length"  # item_id / parent_id empty or longer than ingest.max_id_length
EMBEDDING_DIM = "embedding_dim"  # embedding length != ingest.embedding_dim
NOT_FINITE = "not_finite"  # NaN or infinity (or beyond float32) in a vector or number
PROBABILITIES_LENGTH = "probabilities_length"  # != number of task classes (or < 2 without classes)
PROBABILITIES_RANGE = "probabilities_range"  # a probability outside [0, 1]
PROBABILITIES_SUM = "probabilities_sum"  # does not sum to 1 within ingest.probability_tolerance
UNIT_OF_WORK = "unit_of_work"  # not ITEM / OBJECT / REGION / PIXEL_MASK, or a part without parent_id
HARDNESS = "hardness"  # hardness summary malformed or outside [0, 1]
EVENT_TIME = "event_time"  # not epoch milliseconds, an ISO-8601 string or a datetime
UNPARSEABLE = "unparseable"  # (files) the line is not a JSON object / the row cannot be read

ALL_REASONS = (
    MISSING_FIELD,
    UNKNOWN_FIELD,
    BAD_TYPE,
    ID_LENGTH,
    EMBEDDING_DIM,
    NOT_FINITE,
    PROBABILITIES_LENGTH,
    PROBABILITIES_RANGE,
    PROBABILITIES_SUM,
    UNIT_OF_WORK,
    HARDNESS,
    EVENT_TIME,
    UNPARSEABLE,
)


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
