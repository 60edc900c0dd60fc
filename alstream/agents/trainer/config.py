"""Settings section ``[trainer]`` (env ``ALSTREAM_TRAINER__*``), owned by the ML owner."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from alstream.config_base import Section, group_id_field


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

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        if value in ("accuracy", "macro_f1") or (value.startswith("recall:") and len(value) > len("recall:")):
            return value
        raise ValueError("must be accuracy, macro_f1 or recall:<class>")
