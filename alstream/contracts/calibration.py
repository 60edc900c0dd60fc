"""Calibration round rules: what the agreement agent never emits and the router never assigns.

In order: ``InvalidId`` (``calibration_id``, an item id or an annotator id empty or too long),
``ReservedAnnotator`` (an annotator id starting with ``__``), ``OutOfRange`` (no items or more than
:data:`MAX_ITEMS`; a rate or an item's disagreement outside [0, 1]; a negative sample size),
``NotFinite`` (a rate or statistic NaN or infinite), ``ImpossibleTime`` (``detected_at`` before 1970
or beyond the clock-skew allowance in the future; a window that ends before it starts).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from alstream.contracts.exceptions import (
    ContractViolation,
    ImpossibleTime,
    InvalidId,
    NotFinite,
    OutOfRange,
    ReservedAnnotator,
)
from alstream.contracts.ids import DEFAULT_MAX_ID_LENGTH, annotator_problem, id_problem
from alstream.contracts.times import SECOND_MS, impossible, iso, to_ms

if TYPE_CHECKING:
    from alstream.settings import AlstreamSettings

MAX_ITEMS = 50  # "20 to 50 tough examples" (the operating guide); the schema documents the same
REASONS = tuple(v.__name__ for v in (InvalidId, ReservedAnnotator, OutOfRange, NotFinite, ImpossibleTime))


def _unit_interval(name: str, value: Any) -> ContractViolation | None:
    if value is None:
        return None
    if not math.isfinite(value):
        return NotFinite(f"{name} {value!r} is not a finite number")
    if not 0 <= value <= 1:
        return OutOfRange(f"{name} {value!r} is not in [0, 1]")
    return None


class CalibrationRules:
    def __init__(self, *, max_id_length: int = DEFAULT_MAX_ID_LENGTH, clock_skew_s: float = 300.0) -> None:
        self.max_id_length = max_id_length
        self.skew_ms = int(clock_skew_s * SECOND_MS)

    @classmethod
    def from_settings(cls, settings: AlstreamSettings) -> CalibrationRules:
        return cls(max_id_length=settings.ingest.max_id_length, clock_skew_s=settings.contracts.clock_skew_s)

    def verdict(self, event: Mapping[str, Any], *, now_ms: int) -> ContractViolation | None:
        """The first rule calibration ``event`` breaks when read at ``now_ms``, or None."""
        problem: ContractViolation | None = id_problem(
            event["calibration_id"], field="calibration_id", max_length=self.max_id_length
        )
        if problem is not None:
            return problem
        for item in event["items"]:
            problem = id_problem(item["item_id"], field="item_id", max_length=self.max_id_length)
            if problem is not None:
                return problem
        for annotator_id in event["annotator_ids"]:
            problem = annotator_problem(annotator_id, field="annotator id", max_length=self.max_id_length)
            if problem is not None:
                return problem
        if not 1 <= len(event["items"]) <= MAX_ITEMS:
            return OutOfRange(
                f"a calibration round names 1-{MAX_ITEMS} items, this one {len(event['items'])}"
            )
        if event["sample_size"] < 0:
            return OutOfRange(f"sample_size {event['sample_size']} is negative")
        for name in ("disagreement_rate", "baseline_rate"):
            problem = _unit_interval(name, event[name])
            if problem is not None:
                return problem
        for item in event["items"]:
            problem = _unit_interval("an item's disagreement", item["disagreement"])
            if problem is not None:
                return problem
        for name in ("krippendorff_alpha", "fleiss_kappa"):
            value = event.get(name)
            if value is not None and not math.isfinite(value):
                return NotFinite(f"{name} {value!r} is not a finite number")
        problem = impossible("detected_at", to_ms(event["detected_at"]), now_ms=now_ms, skew_ms=self.skew_ms)
        if problem is not None:
            return problem
        start, end = to_ms(event["window_start"]), to_ms(event["window_end"])
        if end < start:
            return ImpossibleTime(f"window_end {iso(end)} is before window_start {iso(start)}")
        return None
