"""Base class of every settings section (kept apart so agent packages can define their own sections)."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A frozen settings section that rejects unknown keys (typos fail at start, not at 3 a.m.)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
