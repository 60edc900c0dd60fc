"""Settings section ``[scorer]`` (env ``ALSTREAM_SCORER__*``), owned by the ML owner."""

from pathlib import Path

from pydantic import Field

from alstream.config_base import Section, group_id_field


class ScorerSettings(Section):
    """Tunables of the scorer agent. The selection itself lives in the policy file (paths.policy_file)."""

    group_id: str = group_id_field("alstream-scorer")
    batch_size: int = Field(default=5_000, ge=1, description="Items consumed and scored per batch.")
    poll_timeout_s: float = Field(
        default=0.05,
        gt=0,
        description="How long one poll waits for items: bounds the added latency at low rates.",
    )
    model_name: str = Field(
        default="default", description="The model line (models topic key) the scorer follows."
    )
    bootstrap_model: Path | None = Field(
        default=None,
        description="A skops model bundle to score with until a model is announced on the models topic.",
    )
    bootstrap_model_sha256: str | None = Field(
        default=None, description="SHA-256 of bootstrap_model; required with it (nothing loads unverified)."
    )
    failure_bank_file: Path | None = Field(
        default=None,
        description="Failure bank (.npz) for the failure_distance signal when the policy names none; "
        "default <state_dir>/failure-bank.npz.",
    )
    drift_state_file: Path | None = Field(
        default=None,
        description="Where the drift check keeps its weekly histograms; "
        "default <state_dir>/scorer-drift.json.",
    )
    reload_interval_s: float = Field(
        default=5.0, gt=0, description="How often changed QA gold / failure bank files are reloaded."
    )
    native_threads: int = Field(
        default=1, ge=1, description="BLAS / OpenMP threads for scoring; scale out with partitions instead."
    )
    model_catch_up_s: float = Field(
        default=5.0,
        ge=0,
        description="At start, how long to read the models topic for the latest announcement.",
    )
