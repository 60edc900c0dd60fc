"""The labeling lead's quotas file: versioned, validated, with errors that say what to fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from alstream.agents.router.exceptions import QuotaConfigError
from alstream.agents.router.quotas import load_quotas

REPO = Path(__file__).resolve().parents[3]


def test_example_file_loads_with_guide_defaults() -> None:
    quotas = load_quotas(REPO / "quotas" / "default.toml")
    assert quotas.version == "2026.11-quotas-1"
    assert 0.10 <= quotas.random_share <= 0.20


def test_missing_version_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "q.toml"
    file.write_text("max_hard_per_day = 5\n")
    with pytest.raises(QuotaConfigError, match="version"):
        load_quotas(file)


def test_impossible_values_name_the_field(tmp_path: Path) -> None:
    file = tmp_path / "q.toml"
    file.write_text('version = "x"\nmin_normal_share = 1.5\n')
    with pytest.raises(QuotaConfigError, match="min_normal_share"):
        load_quotas(file)
    with pytest.raises(QuotaConfigError, match="does not exist"):
        load_quotas(tmp_path / "missing.toml")


def test_a_random_cap_below_the_random_target_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "q.toml"
    file.write_text('version = "x"\nrandom_share = 0.2\nmax_random_share = 0.1\n')
    with pytest.raises(QuotaConfigError, match="max_random_share"):
        load_quotas(file)
