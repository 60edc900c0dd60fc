"""Why a record breaks the contract. ``reason`` is the code every consumer reports for it: the dead
letter's ``alstream.error.class`` header and the ``reason`` label of the rejection metrics.

Item reasons are the snake_case codes the ingestion SDK has always reported (``id_length``...);
the other record types use the class name (``UnknownRootCause``...). Each rule is visible on its own.
"""

from __future__ import annotations

from alstream.exceptions import AlstreamError


class ContractViolation(AlstreamError):
    """A record that breaks a rule of its contract. ``reason`` defaults to the class name."""

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or type(self).__name__


# ---- rules every record type shares ------------------------------------------------------------


class InvalidId(ContractViolation):
    """An id is empty or longer than ``ingest.max_id_length``."""


class ReservedAnnotator(ContractViolation):
    """An annotator id starts with ``__``: such ids are reserved for alstream's own use."""


class ImpossibleTime(ContractViolation):
    """A time outside its plausibility window (before 1970, in the future beyond the clock-skew
    allowance, older than an event can be, or a lease that ends before it starts)."""


class NotFinite(ContractViolation):
    """A number that must be finite is NaN or infinite."""


class OutOfRange(ContractViolation):
    """A number outside the range its schema documents."""


class WrongEmbeddingSize(ContractViolation):
    """A packed float32 vector that does not hold ``ingest.embedding_dim`` values."""


# ---- items ---------------------------------------------------------------------------------------


class InvalidItem(ContractViolation):
    """An item the SDK refuses before sending and the scorer dead-letters; ``reason`` is its code."""


# ---- labels --------------------------------------------------------------------------------------


class InvalidLabel(ContractViolation):
    """A label that breaks a rule of its own or of its assignment."""


class UnknownAssignment(InvalidLabel):
    """The label cites an assignment that was not seen within the hold time."""


class WrongAnnotator(InvalidLabel):
    """The label's annotator is not the one the assignment was given to."""


class WrongItem(InvalidLabel):
    """The label's item is not the assignment's item."""


class ValueNotInClasses(InvalidLabel):
    """A LABELED label whose value is missing or not one of the task's and the assignment's classes."""


class UnexpectedValue(InvalidLabel):
    """A SKIPPED or CANNOT_LABEL label that carries a value: only LABELED labels answer."""


class SubmittedBeforeStarted(InvalidLabel):
    """submitted_at is earlier than started_at."""


class StartedBeforeAssigned(InvalidLabel):
    """started_at is earlier than the assignment was made (beyond the clock-skew allowance)."""


class LateLabel(InvalidLabel):
    """submitted_at is after the lease expired (beyond the clock-skew allowance): the assignment was
    void by then and its item back in the pool."""


class UnknownRootCause(InvalidLabel):
    """root_cause is not in the configured closed list ``labels.root_causes``."""


class UndecodableLabel(InvalidLabel):
    """The record's bytes are not a label (a null value)."""
