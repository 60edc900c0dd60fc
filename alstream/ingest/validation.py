"""Validation of items before they are produced: a bad item is refused with a reason, never sent.

Works on batches: rows are turned into columns once, and the numeric checks (embedding dimension,
finiteness, probability range and sum) run as numpy operations over the whole batch, so validating
costs a small fraction of producing. Two entry points share the checks:

* :func:`prepare_records` for dict rows (what JSONL / CSV / Parquet readers and most callers have);
* :func:`prepare_columns` for callers that already hold arrays (the fastest path).

Both return a :class:`PreparedBatch`: the valid rows, normalised for the encoder, and one
:class:`Rejection` per refused row.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from itertools import repeat
from typing import Any

import numpy as np

from alstream.contracts.enums import WHOLE_ITEM
from alstream.contracts.items import PIXEL_FIELDS, ItemRules, Refusals, count_of, packed_length_message
from alstream.ingest import reasons as R
from alstream.ingest.reasons import Rejection
from alstream.settings import AlstreamSettings

FIELDS = frozenset(
    {
        "item_id",
        "source",
        "unit_of_work",
        "parent_id",
        "embedding",
        "probabilities",
        "hardness",
        "uri",
        "metadata",
        "event_time",
    }
)
HARDNESS_FIELDS = frozenset({"object_hardness", *PIXEL_FIELDS})
MAX_LONG = 2**63 - 1


@dataclass
class PreparedBatch:
    """Valid rows in input order, normalised for :class:`alstream.streams.item_wire.ItemEncoder`."""

    positions: Sequence[int]  # index of each valid row in the input (a range when all are valid)
    item_ids: list[str]
    sources: list[str]
    units: list[int]
    parent_ids: list[str | None]
    embeddings: np.ndarray  # (valid rows, dim) little-endian float32, C-contiguous
    probability_matrix: np.ndarray | None  # (valid rows, classes) float32; rows without any are filler
    probability_present: np.ndarray | None  # (valid rows,) bool: which rows carry probabilities
    hardness: list[dict[str, Any] | None]
    uris: list[str | None]
    metadata: list[dict[str, str]]
    event_times: list[int] | np.ndarray  # epoch milliseconds (int64 array when given as one)
    rejections: list[Rejection] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.positions)

    @cached_property
    def probabilities(self) -> list[bytes | None]:
        """Per row: packed float32 probabilities, or None (built on demand; the fast encoder skips it)."""
        if self.probability_matrix is None or self.probability_present is None:
            return [None] * len(self)
        raw = self.probability_matrix.tobytes()
        step = self.probability_matrix.shape[1] * 4
        return [
            raw[i * step : (i + 1) * step] if ok else None
            for i, ok in enumerate(self.probability_present.tolist())
        ]

    @property
    def all_have_probabilities(self) -> bool:
        return self.probability_present is not None and bool(self.probability_present.all())

    @property
    def none_has_probabilities(self) -> bool:
        return self.probability_present is None or not self.probability_present.any()


class ItemValidator:
    """Parses what Python callers hand the SDK into the item contract's shapes and applies its rules
    (:class:`alstream.contracts.items.ItemRules`, the same ones the scorer applies after reading)."""

    def __init__(self, *, settings: AlstreamSettings, default_source: str | None = None) -> None:
        self.rules = ItemRules.from_settings(settings)
        self.embedding_dim = settings.ingest.embedding_dim
        self.default_source = default_source

    # ---- dict rows -------------------------------------------------------------------------------

    def prepare_records(self, records: Sequence[Any], *, first_index: int = 0) -> PreparedBatch:
        """Validate dict rows. ``first_index`` offsets :attr:`Rejection.index` (e.g. a file's row number)."""
        n = len(records)
        found = Refusals()
        if _all_of_type(records, dict) and all(map(FIELDS.issuperset, records)):
            rows: Sequence[Any] = records  # the common case, checked in two C-level passes
        else:
            rows = []
            for i, record in enumerate(records):
                if type(record) is not dict and not isinstance(record, Mapping):
                    found.add(i, R.BAD_TYPE, f"an item must be an object, got {type(record).__name__}")
                    rows.append({})
                    continue
                if not record.keys() <= FIELDS:
                    unknown = record.keys() - FIELDS
                    names = ", ".join(sorted(map(str, unknown)))
                    found.add(
                        i, R.UNKNOWN_FIELD, f"unknown field(s) {names}; known: {', '.join(sorted(FIELDS))}"
                    )
                rows.append(dict(record))
        now_ms = int(time.time() * 1000)

        def column(name: str, default: Any = None) -> list[Any]:
            return list(map(dict.get, rows, repeat(name, n), repeat(default, n)))

        return self._check(
            n,
            found,
            ids=column("item_id"),
            sources=column("source"),
            units=column("unit_of_work", WHOLE_ITEM),
            parents=column("parent_id"),
            embeddings=column("embedding"),
            probabilities=column("probabilities"),
            hardness=column("hardness"),
            uris=column("uri"),
            metadata=column("metadata"),
            times=column("event_time"),
            now_ms=now_ms,
            first_index=first_index,
        )

    # ---- columns -----------------------------------------------------------------------------------

    def prepare_columns(
        self,
        *,
        item_ids: Sequence[str],
        embeddings: np.ndarray,
        source: str | Sequence[str] | None = None,
        unit_of_work: str | Sequence[str] = WHOLE_ITEM,
        parent_ids: Sequence[str | None] | None = None,
        probabilities: np.ndarray | None = None,
        uris: Sequence[str | None] | None = None,
        metadata: Sequence[Mapping[str, Any]] | None = None,
        event_time_ms: int | Sequence[int] | np.ndarray | None = None,
        first_index: int = 0,
    ) -> PreparedBatch:
        """Validate items given as columns: ``embeddings`` is (n, dim), ``probabilities`` (n, classes)."""
        n = len(item_ids)
        matrix = np.asarray(embeddings)
        if matrix.ndim != 2 or matrix.shape[0] != n:
            raise ValueError(f"embeddings must have shape ({n}, dim), got {matrix.shape}")
        now_ms = int(time.time() * 1000)
        if event_time_ms is None:
            times: list[Any] | np.ndarray = [now_ms] * n
        elif isinstance(event_time_ms, (int, np.integer)):
            times = [int(event_time_ms)] * n
        else:
            array = np.asarray(event_time_ms)
            times = array if array.dtype.kind in "iu" and array.ndim == 1 else array.tolist()
        return self._check(
            n,
            Refusals(),
            ids=list(item_ids),
            sources=[source] * n if source is None or isinstance(source, str) else list(source),
            units=[unit_of_work] * n if isinstance(unit_of_work, str) else list(unit_of_work),
            parents=[None] * n if parent_ids is None else list(parent_ids),
            embeddings=matrix,
            probabilities=probabilities,
            hardness=[None] * n,
            uris=[None] * n if uris is None else list(uris),
            metadata=[_EMPTY] * n if metadata is None else list(metadata),
            times=times,
            now_ms=now_ms,
            first_index=first_index,
        )

    # ---- the checks --------------------------------------------------------------------------------

    def _check(
        self,
        n: int,
        found: Refusals,
        *,
        ids: list[Any],
        sources: list[Any],
        units: list[Any],
        parents: list[Any],
        embeddings: list[Any] | np.ndarray,
        probabilities: list[Any] | np.ndarray | None,
        hardness: list[Any],
        uris: list[Any],
        metadata: list[Any],
        times: list[Any] | np.ndarray,
        now_ms: int,
        first_index: int,
    ) -> PreparedBatch:
        """Parse each column into the shapes the item contract's rules take, then apply them, column by
        column in the contract's order (:mod:`alstream.contracts.items`): a row's reason is the first
        rule it breaks. Each column is first checked with C-level passes; per-row loops run only where
        that fast check fails."""
        rules = self.rules
        reject = found.add
        # item ids: the type here, the length rule in the contract
        if not _all_strings(ids):
            for i, value in enumerate(ids):
                if value is None:
                    reject(i, R.MISSING_FIELD, "item_id is required")
                elif type(value) is not str:
                    reject(i, R.BAD_TYPE, f"item_id must be a string, got {type(value).__name__}")
            rules.check_ids([v if type(v) is str else "-" for v in ids], found)
        else:
            rules.check_ids(ids, found)
        # sources
        if self.default_source is not None and count_of(sources, None):
            sources = [self.default_source if s is None else s for s in sources]
        if not _all_of_type(sources, str):
            for i, value in enumerate(sources):
                if value is not None and type(value) is not str:
                    reject(i, R.BAD_TYPE, f"source must be a string, got {type(value).__name__}")
        rules.check_sources(sources, found)
        # unit of work and parent
        unit_codes = rules.check_units(units, parents, found)
        # uris
        if count_of(uris, None) != n:
            for i, value in enumerate(uris):
                if value is not None and type(value) is not str:
                    reject(i, R.BAD_TYPE, f"uri must be a string, got {type(value).__name__}")
        # embeddings: stacked, then checked in one pass
        matrix = self._embedding_matrix(embeddings, n, reject)
        rules.check_embedding_values(matrix, found)
        # probabilities
        prob_matrix, prob_present = self._probabilities(probabilities, n, found)
        # hardness, metadata, times: rarely set / cheap per row
        if count_of(hardness, None) == n:
            hard_rows: list[Any] = hardness
        else:
            hard_rows = [None if h is None else self._hardness(i, h, reject) for i, h in enumerate(hardness)]
        if count_of(metadata, _EMPTY) == n:
            meta_rows: list[Any] = metadata
        else:
            meta_rows = [
                _EMPTY if m is None or (type(m) is dict and not m) else self._metadata(i, m, reject)
                for i, m in enumerate(metadata)
            ]
        time_rows = self._times(times, n, now_ms, found)

        if found:
            keep = [i for i in range(n) if i not in found]
            rejections = [
                Rejection(
                    index=first_index + i,
                    item_id=ids[i] if isinstance(ids[i], str) else None,
                    reason=violation.reason,
                    message=str(violation),
                )
                for i, violation in sorted(found.items())
            ]
            valid_matrix = np.ascontiguousarray(matrix[keep])
            if prob_matrix is not None and prob_present is not None:
                prob_matrix, prob_present = np.ascontiguousarray(prob_matrix[keep]), prob_present[keep]
        else:
            keep = list(range(n))
            rejections = []
            valid_matrix = matrix

        def pick(column: Any) -> Any:
            if isinstance(column, np.ndarray):
                return column[keep] if found else column
            return [column[i] for i in keep] if found else list(column)

        return PreparedBatch(
            positions=[first_index + i for i in keep] if found else range(first_index, first_index + n),
            item_ids=pick(ids),
            sources=pick(sources),
            units=pick(unit_codes),
            parent_ids=pick(parents),
            embeddings=valid_matrix,
            probability_matrix=prob_matrix,
            probability_present=prob_present,
            hardness=pick(hard_rows),
            uris=pick(uris),
            metadata=pick(meta_rows),
            event_times=pick(time_rows),
            rejections=rejections,
        )

    def _embedding_matrix(self, embeddings: list[Any] | np.ndarray, n: int, reject: Any) -> np.ndarray:
        dim = self.embedding_dim
        if isinstance(embeddings, np.ndarray):
            if embeddings.shape[1] != dim:
                for i in range(n):
                    reject(i, R.EMBEDDING_DIM, self.rules.embedding_dim_message(embeddings.shape[1]))
                return np.zeros((n, dim), dtype="<f4")
            return _as_f4(embeddings)
        try:  # fast path: every row a list / array of the right length
            with np.errstate(over="ignore", invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # beyond float32 -> inf, refused below
                matrix = np.asarray(embeddings, dtype="<f4")
            if matrix.shape == (n, dim):
                return _as_f4(matrix)
        except (ValueError, TypeError, OverflowError):
            pass  # ragged, missing or non-numeric rows: found and named row by row below
        matrix = np.zeros((n, dim), dtype="<f4")
        for i, value in enumerate(embeddings):
            vector, problem = _vector(value, "embedding")
            if problem is not None:
                reject(i, *problem)
            elif vector.shape[0] != dim:
                reject(i, R.EMBEDDING_DIM, self.rules.embedding_dim_message(vector.shape[0]))
            else:
                matrix[i] = vector
        return matrix

    def _probabilities(
        self, probabilities: list[Any] | np.ndarray | None, n: int, found: Refusals
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        if probabilities is None:
            return None, None
        rules = self.rules
        if not isinstance(probabilities, np.ndarray) and not any(p is None for p in probabilities):
            try:  # fast path: every row has probabilities of one length
                with np.errstate(over="ignore", invalid="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    stacked = np.asarray(probabilities, dtype="<f4")
                if stacked.ndim == 2 and stacked.shape[0] == n:
                    probabilities = stacked
            except (ValueError, TypeError, OverflowError):
                pass  # ragged or non-numeric rows: checked row by row below
        if isinstance(probabilities, np.ndarray):
            if probabilities.ndim != 2 or probabilities.shape[0] != n:
                raise ValueError(f"probabilities must have shape ({n}, classes), got {probabilities.shape}")
            present: np.ndarray = np.ones(n, dtype=bool)
            matrix = _as_f4(probabilities)
            rules.check_probability_widths(np.arange(n), np.full(n, matrix.shape[1]), found)
        else:
            present = np.fromiter((p is not None for p in probabilities), dtype=bool, count=n)
            if not present.any():
                return None, None
            vectors: dict[int, np.ndarray] = {}
            for i in np.flatnonzero(present).tolist():
                vector, problem = _vector(probabilities[i], "probabilities")
                if problem is not None:
                    found.add(i, *problem)
                else:
                    vectors[i] = vector
            rows = list(vectors)
            width = rules.check_probability_widths(rows, [len(vectors[i]) for i in rows], found)
            width = max(width, 1)
            matrix = np.full((n, width), 1.0 / width, dtype="<f4")
            for i, vector in vectors.items():
                if len(vector) == width:
                    matrix[i] = vector
        rules.check_probability_values(matrix, present, found)
        return matrix, present

    def _hardness(self, i: int, value: Any, reject: Any) -> dict[str, Any] | None:
        if not isinstance(value, Mapping):
            reject(i, R.HARDNESS, "hardness must be an object with object_hardness and optional pixel fields")
            return None
        unknown = value.keys() - HARDNESS_FIELDS
        if unknown:
            reject(i, R.HARDNESS, f"unknown hardness field(s) {', '.join(sorted(map(str, unknown)))}")
            return None
        vector, problem = _vector(value.get("object_hardness", []), "object_hardness")
        if problem is not None:
            reject(i, R.HARDNESS, problem[1])
            return None
        pixels = [value.get(name) for name in PIXEL_FIELDS]
        problem_text = self.rules.hardness_problem(vector, *pixels)
        if problem_text is not None:
            reject(i, R.HARDNESS, problem_text)
            return None
        out: dict[str, Any] = {"object_hardness": vector.tobytes()}
        for name, number in zip(PIXEL_FIELDS, pixels, strict=True):
            out[name] = None if number is None else float(number)
        return out

    @staticmethod
    def _metadata(i: int, value: Any, reject: Any) -> dict[str, str]:
        if not isinstance(value, Mapping):
            reject(i, R.BAD_TYPE, f"metadata must be an object of strings, got {type(value).__name__}")
            return _EMPTY
        return {
            str(k): v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), default=str)
            for k, v in value.items()
        }

    def _times(self, times: list[Any] | np.ndarray, n: int, now_ms: int, found: Refusals) -> Any:
        """Event times as epoch milliseconds (0 where refused), checked by the contract's time rule."""
        rules = self.rules
        if isinstance(times, np.ndarray):  # integer array from prepare_columns: checked in one pass
            array = np.minimum(times, MAX_LONG).astype(np.int64) if times.dtype.kind == "u" else times
            before = len(found)
            rules.check_event_times(array, found, now_ms=now_ms)
            if len(found) == before:
                return array
            low, high = rules.event_time_bounds(now_ms)
            return np.where((array < low) | (array > high), 0, array).astype(np.int64)
        low, high = rules.event_time_bounds(now_ms)
        if _all_of_type(times, int) and n and min(times) >= low and max(times) <= high:
            return times
        out = []
        for i, value in enumerate(times):
            ms = self._time(i, value, now_ms, found.add)
            problem = None if ms is None else rules.event_time_problem(ms, now_ms)
            if problem is not None:
                found.add(i, R.EVENT_TIME, problem)
            out.append(0 if ms is None or problem is not None else ms)
        return out

    @staticmethod
    def _time(i: int, value: Any, now_ms: int, reject: Any) -> int | None:
        """One event time in epoch milliseconds, or None (refused here) when it is not a time at all."""
        if value is None:
            return now_ms
        if isinstance(value, (bool, np.bool_)):
            reject(i, R.EVENT_TIME, "event_time must be epoch milliseconds, an ISO-8601 string or a datetime")
            return None
        if isinstance(value, (int, np.integer)) or (isinstance(value, float) and math.isfinite(value)):
            return int(value)
        if isinstance(value, datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=UTC)
            return int(moment.timestamp() * 1000)
        if isinstance(value, str):
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                reject(
                    i, R.EVENT_TIME, f"event_time {value[:40]!r} is not ISO-8601 (e.g. 2026-01-31T12:00:00Z)"
                )
                return None
            moment = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            return int(moment.timestamp() * 1000)
        reject(i, R.EVENT_TIME, f"event_time must be epoch milliseconds, got {type(value).__name__}")
        return None


_EMPTY: dict[str, str] = {}


def _all_of_type(values: Sequence[Any], kind: type) -> bool:
    """True when every value's type is exactly ``kind`` (one C-level pass; bool is not int)."""
    if not values:
        return True
    first = values[0]
    if kind is str and type(first) is str and count_of(values, first) == len(values):
        return True  # one repeated string (a constant column): no per-value type pass needed
    return set(map(type, values)) == {kind}


def _all_strings(values: list[Any]) -> bool:
    """True when every value is a string, in one C-level pass (join fails on anything else)."""
    try:
        "".join(values)
    except TypeError:
        return False
    return True


def _as_f4(matrix: np.ndarray) -> np.ndarray:
    """Little-endian float32, C-contiguous; float64 values beyond float32 become inf (then refused)."""
    with np.errstate(over="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.ascontiguousarray(matrix, dtype="<f4")


def _vector(value: Any, name: str) -> tuple[np.ndarray, tuple[str, str] | None]:
    """One vector from a list, a 1-D array or packed little-endian float32 bytes."""
    empty = np.zeros(0, dtype="<f4")
    if value is None:
        return empty, (R.MISSING_FIELD, f"{name} is required")
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        if len(raw) % 4:
            return empty, (R.BAD_TYPE, packed_length_message(name, len(raw)))
        return np.frombuffer(raw, dtype="<f4"), None
    if isinstance(value, (str, Mapping)) or not hasattr(value, "__len__"):
        return empty, (R.BAD_TYPE, f"{name} must be a list of numbers, got {type(value).__name__}")
    try:
        with np.errstate(over="ignore", invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            vector = np.asarray(value, dtype="<f4")
    except (TypeError, ValueError, OverflowError):
        return empty, (R.BAD_TYPE, f"{name} must be a list of numbers")
    if vector.ndim != 1:
        return empty, (R.BAD_TYPE, f"{name} must be a flat list of numbers, got {vector.ndim} dimensions")
    return vector, None
