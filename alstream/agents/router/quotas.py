"""The labeling lead's quota rules: a versioned TOML file, validated into one frozen object.

Versioned like the selection policy so every assignment can say which rules it was made under.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from alstream.agents.router.exceptions import QuotaConfigError
from alstream.config_base import describe_validation_error


class Quotas(BaseModel):
    """Rolling per-annotator limits and the work mix. Defaults follow the operating guide."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(default="builtin-default", min_length=1)
    owner: str = "labeling-lead"
    max_hard_per_day: int = Field(default=200, ge=0)
    min_normal_share: float = Field(default=0.3, ge=0.0, le=1.0)
    random_share: float = Field(default=0.15, ge=0.0, le=1.0)
    # The random slice may fill in above its target when nothing else may be given, up to this share.
    max_random_share: float = Field(default=0.3, ge=0.0, le=1.0)
    qa_rate: float = Field(default=0.05, ge=0.0, le=1.0)
    overlap_fraction: float = Field(default=0.1, ge=0.0, le=1.0)
    overlap_k: int = Field(default=3, ge=2, le=20)
    max_in_flight: int = Field(default=10, ge=1, le=1000)
    lease_seconds: float = Field(default=900.0, gt=0)
    weekly_reset_weekday: int = Field(default=0, ge=0, le=6)
    weekly_reset_hour: int = Field(default=0, ge=0, le=23)
    calibration_per_ready: int = Field(default=10, ge=1, le=100)

    @model_validator(mode="after")
    def _mix_fits(self) -> Quotas:
        if self.random_share + self.qa_rate > 1.0:
            raise ValueError("random_share + qa_rate must not exceed 1")
        if self.max_random_share < self.random_share:
            raise ValueError(
                f"max_random_share ({self.max_random_share}) must be at least random_share "
                f"({self.random_share}): it caps the random slice when it fills in above its target"
            )
        return self


def load_quotas(path: Path | str | None) -> Quotas:
    """Read and validate the quotas file; ``None`` gives the built-in defaults."""
    if path is None:
        return Quotas()
    file = Path(path)
    if not file.is_file():
        raise QuotaConfigError(
            f"quotas file {file} does not exist: fix ALSTREAM_PATHS__QUOTAS_FILE (see quotas/default.toml)"
        )
    try:
        raw = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise QuotaConfigError(f"quotas file {file} is not valid TOML: {exc}") from None
    if "version" not in raw:
        raise QuotaConfigError(f'quotas file {file} has no `version`: add e.g. version = "2026.11-quotas-1"')
    try:
        return Quotas(**raw)
    except ValidationError as exc:
        problems = "; ".join(describe_validation_error(exc, Quotas))
        raise QuotaConfigError(f"quotas file {file} is invalid: {problems}") from None
