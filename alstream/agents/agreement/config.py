"""Settings section ``[agreement]`` (env ``ALSTREAM_AGREEMENT__*``), owned by the labeling lead."""

from pathlib import Path

from pydantic import Field, model_validator

from alstream.config_base import Section, group_id_field
from alstream.contracts.calibration import MAX_ITEMS


class AgreementSettings(Section):
    """Tunables of the agreement agent: windows, spike sensitivity, calibration size, failure records.

    Windows count completed overlapped items (not seconds): disagreement is only measurable where
    labels exist, and the demo's and production's label rates differ by orders of magnitude.
    """

    group_id: str = group_id_field("alstream-agreement")
    batch_size: int = Field(default=500, ge=1)
    window_items: int = Field(
        default=20, ge=5, description="Completed overlapped items in the current window."
    )
    baseline_items: int = Field(
        default=300, ge=10, description="Items before the window forming the baseline."
    )
    min_baseline_items: int = Field(default=25, ge=5, description="No spike is called on a shorter baseline.")
    z_threshold: float = Field(
        default=3.0, gt=0, description="Sensitivity: one-sided two-proportion z score a window must exceed."
    )
    min_rate_increase: float = Field(
        default=0.15,
        ge=0,
        le=1,
        description="And the window's disagreement must exceed the baseline by this much.",
    )
    persistence_items: int = Field(
        default=1,
        ge=1,
        description="Consecutive completed items the evidence must hold before a spike fires.",
    )
    cooldown_items: int = Field(
        default=100, ge=0, description="Completed items after a spike before another can fire (no flapping)."
    )
    calibration_min_items: int = Field(default=20, ge=1)
    calibration_max_items: int = Field(
        default=50, ge=1, le=MAX_ITEMS, description="The router refuses larger calibration rounds."
    )
    contested_pool_items: int = Field(
        default=200, ge=20, description="Recent completed items the calibration set is chosen from."
    )
    settle_s: float = Field(
        default=60.0,
        ge=0,
        description="Seconds after the last lease of an overlap group expires before it is closed with the "
        "labels it has (at least two answers are needed to measure agreement).",
    )
    failures_file: Path | None = Field(
        default=None,
        description="JSONL record of confirmed model failures; default state_dir/model_failures.jsonl.",
    )
    overlap_k: int | None = Field(
        default=None,
        ge=2,
        description="Answers that close an overlap group; default: the router's quotas file.",
    )
    max_candidates: int = Field(default=500_000, ge=1_000, description="Candidates kept in memory.")

    @model_validator(mode="after")
    def _consistent(self) -> "AgreementSettings":
        if self.calibration_min_items > self.calibration_max_items:
            raise ValueError(
                "calibration_min_items must not exceed calibration_max_items "
                "(ALSTREAM_AGREEMENT__CALIBRATION_MIN_ITEMS / __CALIBRATION_MAX_ITEMS)"
            )
        if self.min_baseline_items > self.baseline_items:
            raise ValueError(
                "min_baseline_items must not exceed baseline_items (ALSTREAM_AGREEMENT__MIN_BASELINE_ITEMS)"
            )
        return self
