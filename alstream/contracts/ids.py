"""Id rules every record type shares: an id is a non-empty string of at most ``ingest.max_id_length``
characters, and annotator ids starting with ``__`` are reserved for alstream itself (the router's
lease-sweeping heartbeat is ``__router_tick__``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from alstream.contracts.exceptions import ContractViolation, InvalidId, ReservedAnnotator

RESERVED_PREFIX = "__"
ROUTER_TICK = "__router_tick__"  # the router's heartbeat on annotator-events: it sweeps expired leases
DEFAULT_MAX_ID_LENGTH = 256  # ingest.max_id_length's default, for callers without settings


def short(value: object, limit: int = 60) -> str:
    """repr of a user-supplied value, cut so a huge payload never lands in error headers or logs."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"...({len(text)} chars)"


def id_length_ok(length: int, max_length: int) -> bool:
    return 0 < length <= max_length


def id_length_message(field: str, length: int, max_length: int) -> str:
    return f"{field} must have 1-{max_length} characters, has {length}"


def id_lengths_bad(
    ids: Sequence[str], max_length: int, *, byte_lengths: NDArray[Any] | None = None
) -> NDArray[Any]:
    """Vectorised :func:`id_length_ok` over strings: a bool mask of the ids that break it.

    With ``byte_lengths`` (their UTF-8 sizes, which a decoder has for free) only ids whose byte size
    is 0 or above the limit are measured in characters: a character takes at least one byte.
    """
    n = len(ids)
    if byte_lengths is None:
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=n)
        mask: NDArray[Any] = (lengths == 0) | (lengths > max_length)
        return mask
    bad: NDArray[Any] = (byte_lengths == 0) | (byte_lengths > max_length)
    for i in np.flatnonzero(byte_lengths > max_length).tolist():
        bad[i] = len(ids[i]) > max_length
    return bad


def id_problem(value: Any, *, field: str, max_length: int) -> InvalidId | None:
    """The per-record id rule: a string of 1 to ``max_length`` characters."""
    if not isinstance(value, str):
        return InvalidId(f"{field} must be a string, got {type(value).__name__}")
    if not id_length_ok(len(value), max_length):
        return InvalidId(id_length_message(field, len(value), max_length))
    return None


def is_reserved(annotator_id: str) -> bool:
    return annotator_id.startswith(RESERVED_PREFIX)


def annotator_problem(
    annotator_id: Any, *, field: str = "annotator_id", max_length: int
) -> ContractViolation | None:
    """An annotator id: a valid id that does not start with the reserved ``__``."""
    problem = id_problem(annotator_id, field=field, max_length=max_length)
    if problem is not None:
        return problem
    if is_reserved(annotator_id):
        return ReservedAnnotator(
            f"{field} {short(annotator_id)} starts with {RESERVED_PREFIX!r}: such ids are reserved for "
            "alstream's own use"
        )
    return None
