"""Settings section ``[trainer]`` (env ``ALSTREAM_TRAINER__*``), owned by the ML owner."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from alstream.config_base import Section, group_id_field
from alstream.models.estimators import ESTIMATORS, EstimatorError, build_estimator

Calibration = Literal["none", "sigmoid", "isotonic"]


class CommitteeMember(Section):
    """One committee member: an allow-listed estimator, its parameters, optional probability calibration."""

    estimator: str = Field(description=f"One of: {', '.join(ESTIMATORS)}.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Constructor parameters over alstream's defaults."
    )
    calibration: Calibration = "none"

    @model_validator(mode="after")
    def _buildable(self) -> CommitteeMember:
        try:
            build_estimator(self.estimator, self.params)
        except EstimatorError as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def label(self) -> str:
        calibrated = "" if self.calibration == "none" else f"+{self.calibration}"
        return self.estimator + calibrated


#: The default committee, chosen by measurement on bench/bench_value.py (docs/releases.md, "Benchmark
#: suite"): the best models per label of the committees measured, cheap to score, seconds to retrain.
DEFAULT_COMMITTEE: tuple[CommitteeMember, ...] = (
    CommitteeMember(estimator="logistic_regression"),
    CommitteeMember(estimator="mlp"),
)


class TrainerSettings(Section):
    """Tunables of the trainer agent and of ``alstream train``."""

    group_id: str = group_id_field("alstream-trainer")
    model_name: str = Field(
        default="default", description="Model line announced on the models topic (its key)."
    )
    validation_file: Path | None = Field(
        default=None,
        description="Fixed validation set (npz: item_ids, embeddings, labels). Never trained on.",
    )
    seed_file: Path | None = Field(
        default=None, description="Optional seed set (same npz layout) trained on alongside the labels."
    )
    metric: str = Field(
        default="accuracy",
        description="Primary validation metric: accuracy, macro_f1 or recall:<class> (rare-class recall).",
    )
    tolerance: float = Field(
        default=0.01,
        ge=0.0,
        le=1.0,
        description="A new model may be at most this much worse than the current one, else it is refused.",
    )
    retrain_every_labels: int = Field(
        default=0, ge=0, description="Also retrain after this many new labels (0: only when a release lands)."
    )
    random_state: int = Field(default=0, description="Seed of the estimators: same data, same model.")
    online_held_out_share: float = Field(
        default=0.5,
        ge=0.0,
        lt=1.0,
        description="Share of random-slice labels held out (never trained on) to measure the loop against "
        "random on production data; 0 turns the online proof off.",
    )
    online_min_eval_labels: int = Field(
        default=30,
        ge=1,
        description="Held-out random-slice labels needed before the online proof is measured.",
    )
    committee: tuple[CommitteeMember, ...] = Field(
        default=DEFAULT_COMMITTEE,
        min_length=1,
        description="Committee members, e.g. "
        '[{"estimator": "logistic_regression"}, {"estimator": "random_forest", "calibration": "sigmoid"}]; '
        "two or more for the disagreement signals. Estimators: " + ", ".join(ESTIMATORS) + ".",
    )

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value in ("accuracy", "macro_f1") or (value.startswith("recall:") and len(value) > len("recall:")):
            return value
        raise ValueError("must be accuracy, macro_f1 or recall:<class>")
