"""Settings section ``[labels]`` (env ``ALSTREAM_LABELS__*``), owned by the labeling lead."""

from pydantic import Field, field_validator

from alstream.config_base import Section, group_id_field

DEFAULT_ROOT_CAUSES = [
    "guideline_gap",
    "ambiguous_item",
    "model_bias",
    "data_quality",
    "new_class",
    "other",
]


class LabelsSettings(Section):
    """Tunables of the labels agent (and the label rules the agreement agent shares)."""

    group_id: str = group_id_field("alstream-labels")
    batch_size: int = Field(default=500, ge=1, description="Labels consumed per batch.")
    hold_unknown_s: float = Field(
        default=30.0,
        ge=0,
        description="How long a label whose assignment is not yet known is held before it is dead-lettered "
        "as UnknownAssignment (labels may overtake their assignment: the topics are read independently).",
    )
    root_causes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ROOT_CAUSES),
        description="Closed list of model-failure root causes a label may carry in labels.root_cause.",
    )
    qa_window: int = Field(default=200, ge=10, description="QA checks in the rolling QA error rate.")
    qa_annotator_top_n: int = Field(
        default=20, ge=0, description="Annotators exported in the per-annotator QA gauge (worst first)."
    )
    qa_annotator_min_checks: int = Field(
        default=10,
        ge=1,
        description="QA checks an annotator needs before appearing in the per-annotator gauge.",
    )
    max_assignments: int = Field(
        default=2_000_000, ge=1_000, description="Assignments kept in memory (oldest forgotten first)."
    )

    @field_validator("root_causes")
    @classmethod
    def _distinct_causes(cls, value: list[str]) -> list[str]:
        if not value or len(set(value)) != len(value):
            raise ValueError(
                "root_causes must be a non-empty list of distinct names (ALSTREAM_LABELS__ROOT_CAUSES)"
            )
        return value
