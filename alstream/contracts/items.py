"""Item rules: what the ingestion SDK refuses before sending and the scorer dead-letters after reading.

The rules, in the order they are applied (an item is refused for the first one it breaks, and that
rule's code is its reason everywhere: the SDK's ``Rejection.reason``, the rejects file, the
``reason`` label of ``alstream_ingest_items_rejected_total`` and the scorer's dead-letter header):

==  =====================  ===========================================================================
 1  ``id_length``          ``item_id`` empty or longer than ``ingest.max_id_length`` characters
 2  ``missing_field``      ``source`` empty
 3  ``unit_of_work``       a part (``OBJECT`` / ``REGION`` / ``PIXEL_MASK``) without ``parent_id``
 4  ``id_length``          ``parent_id`` empty or too long
 5  ``bad_type``           embedding bytes not a multiple of 4 (not packed float32)
 6  ``embedding_dim``      the embedding does not hold ``ingest.embedding_dim`` values
 7  ``not_finite``         NaN / infinity (or beyond float32) in the embedding
 8  ``bad_type``           probability bytes not a multiple of 4
 9  ``probabilities_length`` not one value per task class (without classes: fewer than 2, or another
                           width than the batch's first item with probabilities)
10  ``not_finite``         NaN / infinity in the probabilities
11  ``probabilities_range`` a probability below 0 or above 1
12  ``probabilities_sum``  the sum differs from 1 by more than ``ingest.probability_tolerance``
13  ``hardness``           a malformed hardness summary or a value that is not finite in [0, 1]
14  ``event_time``         before 1970, or more than ``contracts.clock_skew_s`` ahead of the checker's clock
==  =====================  ===========================================================================

The SDK also refuses what only a Python caller can get wrong (``missing_field``, ``unknown_field``,
``bad_type``, ``unit_of_work`` for an unknown unit name, ``unparseable`` file lines), and the scorer
refuses two things only it can see: an item of another unit of work than its policy scores
(``policy_unit_of_work``) and an item its signal scores NaN or infinite (``score_not_finite``).

Every rule has a vectorised form the SDK and the scorer run over whole batches and a per-record form,
:meth:`ItemRules.check_record`, over one Avro-shaped record; tests require both to agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from alstream.contracts.enums import UNIT_CODES, UNITS_OF_WORK, WHOLE_ITEM
from alstream.contracts.exceptions import InvalidItem
from alstream.contracts.ids import DEFAULT_MAX_ID_LENGTH, id_length_message, id_length_ok, id_lengths_bad
from alstream.contracts.times import SECOND_MS, iso, times_bad

if TYPE_CHECKING:
    from alstream.settings import AlstreamSettings

# ---- reason codes (plain strings: they print, serialise and label metrics without conversion) ------
MISSING_FIELD = "missing_field"  # a required field is absent or null (or source empty)
UNKNOWN_FIELD = "unknown_field"  # a field the items contract does not have (typo, wrong column)
BAD_TYPE = "bad_type"  # a field has the wrong type (e.g. metadata not an object, bytes not packed float32)
ID_LENGTH = "id_length"  # item_id / parent_id empty or longer than ingest.max_id_length
EMBEDDING_DIM = "embedding_dim"  # embedding length != ingest.embedding_dim
NOT_FINITE = "not_finite"  # NaN or infinity (or beyond float32) in a vector
PROBABILITIES_LENGTH = "probabilities_length"  # != number of task classes (or < 2 without classes)
PROBABILITIES_RANGE = "probabilities_range"  # a probability outside [0, 1]
PROBABILITIES_SUM = "probabilities_sum"  # does not sum to 1 within ingest.probability_tolerance
UNIT_OF_WORK = "unit_of_work"  # not a unit of the schema, or a part without parent_id
HARDNESS = "hardness"  # hardness summary malformed or outside [0, 1]
EVENT_TIME = "event_time"  # not a time, before 1970, or beyond the clock-skew allowance in the future
UNPARSEABLE = "unparseable"  # (files) the line is not a JSON object / the row cannot be read
POLICY_UNIT_OF_WORK = "policy_unit_of_work"  # (scorer) another unit of work than its policy scores
SCORE_NOT_FINITE = "score_not_finite"  # (scorer) the policy's signal scored the item NaN or infinite

SDK_REASONS = (
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
SCORER_REASONS = (POLICY_UNIT_OF_WORK, SCORE_NOT_FINITE)
ALL_REASONS = SDK_REASONS + SCORER_REASONS

SOURCE_MISSING = "source is required (or give the producer a default source)"
EMBEDDING_NOT_FINITE = "embedding holds NaN, infinity or a value beyond float32"
PROBABILITIES_NOT_FINITE = "probabilities hold NaN or infinity"
PROBABILITIES_OUT_OF_RANGE = "every probability must lie in [0, 1]"
HARDNESS_VALUES = "object_hardness values must be finite and in [0, 1]"
PIXEL_FIELDS = ("pixel_mean_uncertainty", "pixel_uncertain_fraction")


class Refusals(dict[int, InvalidItem]):
    """Refused rows of one batch: row index -> the first rule it broke (later ones are not recorded)."""

    def add(self, row: int, reason: str, message: str) -> None:
        if row not in self:
            self[row] = InvalidItem(message, reason=reason)

    def add_rows(
        self, rows: NDArray[Any] | Iterable[int], reason: str, message: str | Callable[[int], str]
    ) -> None:
        """Refuse ``rows`` (a bool mask or row indices); ``message`` may depend on the row."""
        indices = (
            np.flatnonzero(rows).tolist() if isinstance(rows, np.ndarray) and rows.dtype == bool else rows
        )
        for row in indices:
            self.add(int(row), reason, message if isinstance(message, str) else message(int(row)))


def count_of(values: Sequence[Any], target: Any) -> int:
    """``values.count(target)`` at C speed, safe when a value is an array (whose == is elementwise)."""
    try:
        return values.count(target)
    except (ValueError, TypeError, AttributeError):
        return sum(1 for value in values if value is target)


def unit_code(name: Any) -> int:
    """The Avro enum index of a unit of work, -1 for anything that is not one."""
    return UNIT_CODES.get(name, -1) if isinstance(name, str) else -1


def packed_length_message(field: str, nbytes: int) -> str:
    return f"{field} bytes must be packed float32 (length a multiple of 4), got {nbytes}"


@dataclass(frozen=True)
class ItemRules:
    """The item rules with the settings they depend on (shared by the producers and the scorer)."""

    embedding_dim: int = 64
    max_id_length: int = DEFAULT_MAX_ID_LENGTH
    probability_tolerance: float = 1e-3
    classes: tuple[str, ...] = ()
    clock_skew_ms: int = 300 * SECOND_MS

    @classmethod
    def from_settings(cls, settings: AlstreamSettings) -> ItemRules:
        return cls(
            embedding_dim=settings.ingest.embedding_dim,
            max_id_length=settings.ingest.max_id_length,
            probability_tolerance=settings.ingest.probability_tolerance,
            classes=tuple(settings.task.classes),
            clock_skew_ms=int(settings.contracts.clock_skew_s * SECOND_MS),
        )

    # ---- messages ---------------------------------------------------------------------------------

    def embedding_dim_message(self, count: int) -> str:
        return f"embedding has {count} values, expected {self.embedding_dim}"

    def probabilities_length_message(self, got: int, expected: int) -> str:
        if expected >= 2:
            return f"probabilities have {got} values, expected {expected} (one per task class)"
        return f"probabilities need at least 2 values, got {got}"

    def probabilities_sum_message(self, total: float) -> str:
        return f"probabilities sum to {total:.6g}, not 1 (tolerance {self.probability_tolerance:g})"

    def event_time_problem(self, ms: int, now_ms: int) -> str | None:
        """Rule 14, per record."""
        if ms < 0:
            return f"event_time {iso(ms)} is before 1970"
        if ms > now_ms + self.clock_skew_ms:
            return (
                f"event_time {iso(ms)} is in the future (this clock: {iso(now_ms)}; "
                f"clock-skew allowance {self.clock_skew_ms / SECOND_MS:g} s)"
            )
        return None

    # ---- vectorised forms (each adds the rows it refuses to ``found``) ------------------------------

    def check_ids(
        self,
        ids: Sequence[str],
        found: Refusals,
        *,
        field: str = "item_id",
        byte_lengths: NDArray[Any] | None = None,
    ) -> None:
        """Rules 1 / 4 over strings (rows that are not strings are the caller's to refuse first)."""
        bad = id_lengths_bad(ids, self.max_id_length, byte_lengths=byte_lengths)
        if bad.any():
            found.add_rows(
                bad, ID_LENGTH, lambda i: id_length_message(field, len(ids[i]), self.max_id_length)
            )

    @staticmethod
    def check_sources(sources: Sequence[Any], found: Refusals) -> None:
        """Rule 2 over sources (an empty string or None is missing; other types are the caller's)."""
        if count_of(sources, "") or count_of(sources, None):
            for i, source in enumerate(sources):
                if source is None or (type(source) is str and not source):
                    found.add(i, MISSING_FIELD, SOURCE_MISSING)

    @staticmethod
    def check_source_lengths(byte_lengths: NDArray[Any], found: Refusals) -> None:
        """Rule 2 over the sources' encoded sizes (what a decoder has without building the strings)."""
        found.add_rows(byte_lengths == 0, MISSING_FIELD, SOURCE_MISSING)

    def check_units(self, units: Sequence[Any], parent_ids: Sequence[Any], found: Refusals) -> list[int]:
        """Rules 3 and 4 (and an unknown unit name); returns each row's unit code (-1 when unknown)."""
        n = len(units)
        first = units[0] if n else WHOLE_ITEM
        same = isinstance(first, str) and count_of(units, first) == n
        codes = [unit_code(first)] * n if same else [unit_code(u) for u in units]
        if count_of(parent_ids, None) == n and codes.count(0) == n:
            return codes  # whole items without parents: the common case, two C-level passes
        names = ", ".join(UNITS_OF_WORK)
        present: list[int] = []
        for i, code in enumerate(codes):
            parent = parent_ids[i]
            if code < 0:
                found.add(i, UNIT_OF_WORK, f"unit_of_work must be one of {names}, got {units[i]!r}")
            elif parent is None:
                if code > 0:
                    found.add(
                        i, UNIT_OF_WORK, f"unit_of_work {units[i]} needs parent_id (the item it belongs to)"
                    )
            elif type(parent) is not str:
                found.add(i, BAD_TYPE, f"parent_id must be a string, got {type(parent).__name__}")
            else:
                present.append(i)
        if present:
            bad = id_lengths_bad([parent_ids[i] for i in present], self.max_id_length)
            for j in np.flatnonzero(bad).tolist():
                i = present[j]
                found.add(
                    i, ID_LENGTH, id_length_message("parent_id", len(parent_ids[i]), self.max_id_length)
                )
        return codes

    def check_packed_embeddings(self, byte_lengths: NDArray[Any], found: Refusals) -> NDArray[Any]:
        """Rules 5-6 over packed embeddings' byte sizes; returns the mask of rows of the right size."""
        right: NDArray[Any] = byte_lengths == 4 * self.embedding_dim
        if not right.all():
            for i in np.flatnonzero(~right).tolist():
                size = int(byte_lengths[i])
                if size % 4:
                    found.add(i, BAD_TYPE, packed_length_message("embedding", size))
                else:
                    found.add(i, EMBEDDING_DIM, self.embedding_dim_message(size // 4))
        return right

    def check_embedding_values(self, matrix: NDArray[Any], found: Refusals) -> None:
        """Rule 7 over an (n, dim) float32 matrix (rows refused earlier may hold anything)."""
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(matrix).all(axis=1)
        if not finite.all():
            found.add_rows(~finite, NOT_FINITE, EMBEDDING_NOT_FINITE)

    def check_probability_widths(
        self,
        rows: Sequence[int] | NDArray[Any],
        widths: Sequence[int] | NDArray[Any],
        found: Refusals,
        *,
        expected: int | None = None,
    ) -> int:
        """Rule 9 for ``rows`` carrying probabilities of ``widths`` values; returns the width every row
        must have: one per task class (or ``expected``, e.g. the model's classes, when the task has none
        configured), else the first row's."""
        got = np.asarray(widths, dtype=np.int64)
        width = expected or len(self.classes) or (int(got[0]) if got.size else 0)
        bad = (got != width) | (got < 2)
        if bad.any():
            for j in np.flatnonzero(bad).tolist():
                found.add(
                    int(rows[j]), PROBABILITIES_LENGTH, self.probabilities_length_message(int(got[j]), width)
                )
        return width

    def check_packed_probabilities(
        self, probabilities: Sequence[bytes | None], found: Refusals, *, expected: int | None = None
    ) -> tuple[list[int], int]:
        """Rules 8-9 over packed probabilities (None where absent): the rows that carry usable ones and
        the width they have."""
        rows: list[int] = []
        widths: list[int] = []
        for i, packed in enumerate(probabilities):
            if packed is None:
                continue
            if len(packed) % 4:
                found.add(i, BAD_TYPE, packed_length_message("probabilities", len(packed)))
                continue
            rows.append(i)
            widths.append(len(packed) // 4)
        width = self.check_probability_widths(rows, widths, found, expected=expected)
        return [i for i, w in zip(rows, widths, strict=True) if w == width and w >= 2], width

    def check_probability_values(self, matrix: NDArray[Any], present: NDArray[Any], found: Refusals) -> None:
        """Rules 10-12 over an (n, k) matrix; ``present`` marks the rows that carry probabilities."""
        with np.errstate(invalid="ignore", over="ignore"):
            finite = np.isfinite(matrix).all(axis=1)
            in_range = ((matrix >= 0) & (matrix <= 1)).all(axis=1)
            sums = matrix.astype(np.float64).sum(axis=1)
        found.add_rows(present & ~finite, NOT_FINITE, PROBABILITIES_NOT_FINITE)
        found.add_rows(present & finite & ~in_range, PROBABILITIES_RANGE, PROBABILITIES_OUT_OF_RANGE)
        off = present & finite & in_range & (np.abs(sums - 1.0) > self.probability_tolerance)
        found.add_rows(off, PROBABILITIES_SUM, lambda i: self.probabilities_sum_message(float(sums[i])))

    def event_time_bounds(self, now_ms: int) -> tuple[int, int]:
        """Rule 14 as the inclusive range of plausible event times at ``now_ms``."""
        return 0, now_ms + self.clock_skew_ms

    def check_event_times(self, event_times: NDArray[Any], found: Refusals, *, now_ms: int) -> None:
        """Rule 14 over int64 epoch milliseconds."""
        bad = times_bad(event_times, now_ms=now_ms, skew_ms=self.clock_skew_ms)
        if bad.any():
            found.add_rows(
                bad, EVENT_TIME, lambda i: self.event_time_problem(int(event_times[i]), now_ms) or ""
            )

    def check_policy_units(self, units: Sequence[str], policy_unit: str, found: Refusals) -> None:
        """The scorer's own rule: a policy scores one unit of work."""
        if units.count(policy_unit) != len(units):
            for i, unit in enumerate(units):
                if unit != policy_unit:
                    found.add(
                        i,
                        POLICY_UNIT_OF_WORK,
                        f"unit of work {unit} differs from the policy's {policy_unit}: a policy scores one "
                        "unit of work; route other units to a scorer with their own policy",
                    )

    @staticmethod
    def check_scores(scores: NDArray[Any], found: Refusals, *, signal: str) -> NDArray[Any]:
        """The scorer's own rule over its scores; returns the mask of finite ones."""
        finite: NDArray[Any] = np.isfinite(scores)
        if not finite.all():
            found.add_rows(
                ~finite,
                SCORE_NOT_FINITE,
                f"the {signal} signal scored this item NaN or infinite (extreme embedding or probability "
                "values); it is never routed",
            )
        return finite

    # ---- hardness (rare: per record in both forms) ---------------------------------------------------

    @staticmethod
    def hardness_problem(
        object_hardness: NDArray[Any], pixel_mean: Any = None, pixel_fraction: Any = None
    ) -> str | None:
        """Rule 13 over a parsed summary: object hardness values and the two optional pixel figures."""
        values = object_hardness
        with np.errstate(invalid="ignore"):
            if values.size and not (
                np.isfinite(values).all() and (values >= 0).all() and (values <= 1).all()
            ):
                return HARDNESS_VALUES
        for name, number in zip(PIXEL_FIELDS, (pixel_mean, pixel_fraction), strict=True):
            if number is not None and (
                isinstance(number, bool) or not isinstance(number, (int, float)) or not 0 <= number <= 1
            ):
                return f"{name} must be a number in [0, 1], got {number!r}"
        return None

    @classmethod
    def packed_hardness_problem(cls, summary: Mapping[str, Any]) -> str | None:
        """Rule 13 over an Avro-shaped summary (``object_hardness`` as packed float32 bytes)."""
        packed = summary.get("object_hardness") or b""
        if len(packed) % 4:
            return packed_length_message("object_hardness", len(packed))
        return cls.hardness_problem(
            np.frombuffer(packed, dtype="<f4"),
            summary.get("pixel_mean_uncertainty"),
            summary.get("pixel_uncertain_fraction"),
        )

    # ---- the per-record form -------------------------------------------------------------------------

    def check_record(
        self, record: Mapping[str, Any], *, now_ms: int, expected_width: int | None = None
    ) -> InvalidItem | None:
        """Rules 1-14 over one Avro-shaped item (bytes vectors, ``event_time`` in epoch ms); the first
        rule broken, or None. ``expected_width``: the probability width of the item's batch, when the
        task has no classes configured."""

        def refuse(reason: str, message: str) -> InvalidItem:
            return InvalidItem(message, reason=reason)

        item_id = record["item_id"]
        if not id_length_ok(len(item_id), self.max_id_length):
            return refuse(ID_LENGTH, id_length_message("item_id", len(item_id), self.max_id_length))
        if not record["source"]:
            return refuse(MISSING_FIELD, SOURCE_MISSING)
        unit, parent = record["unit_of_work"], record.get("parent_id")
        if unit_code(unit) < 0:
            return refuse(
                UNIT_OF_WORK, f"unit_of_work must be one of {', '.join(UNITS_OF_WORK)}, got {unit!r}"
            )
        if parent is None and unit != WHOLE_ITEM:
            return refuse(UNIT_OF_WORK, f"unit_of_work {unit} needs parent_id (the item it belongs to)")
        if parent is not None and not id_length_ok(len(parent), self.max_id_length):
            return refuse(ID_LENGTH, id_length_message("parent_id", len(parent), self.max_id_length))
        embedding = record["embedding"]
        if len(embedding) % 4:
            return refuse(BAD_TYPE, packed_length_message("embedding", len(embedding)))
        if len(embedding) // 4 != self.embedding_dim:
            return refuse(EMBEDDING_DIM, self.embedding_dim_message(len(embedding) // 4))
        if not all(math.isfinite(v) for v in np.frombuffer(embedding, dtype="<f4").tolist()):
            return refuse(NOT_FINITE, EMBEDDING_NOT_FINITE)
        packed = record.get("probabilities")
        if packed is not None:
            if len(packed) % 4:
                return refuse(BAD_TYPE, packed_length_message("probabilities", len(packed)))
            values = np.frombuffer(packed, dtype="<f4").tolist()
            width = expected_width or len(self.classes) or len(values)
            if len(values) != width or len(values) < 2:
                return refuse(PROBABILITIES_LENGTH, self.probabilities_length_message(len(values), width))
            if not all(math.isfinite(v) for v in values):
                return refuse(NOT_FINITE, PROBABILITIES_NOT_FINITE)
            if not all(0 <= v <= 1 for v in values):
                return refuse(PROBABILITIES_RANGE, PROBABILITIES_OUT_OF_RANGE)
            total = float(np.asarray(values, dtype=np.float64).sum())  # as the vectorised form sums
            if abs(total - 1.0) > self.probability_tolerance:
                return refuse(PROBABILITIES_SUM, self.probabilities_sum_message(total))
        hardness = record.get("hardness")
        if hardness is not None:
            problem = self.packed_hardness_problem(hardness)
            if problem is not None:
                return refuse(HARDNESS, problem)
        problem = self.event_time_problem(int(record["event_time"]), now_ms)
        if problem is not None:
            return refuse(EVENT_TIME, problem)
        return None
