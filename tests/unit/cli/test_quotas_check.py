"""`alstream quotas check` and the quota file's errors, in the labeling lead's words."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from alstream.agents.router.exceptions import QuotaConfigError
from alstream.agents.router.quotas import load_quotas
from alstream.cli.main import app

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name", ["default.toml", "demo.toml"])
def test_the_shipped_quota_files_check(name: str) -> None:
    result = CliRunner().invoke(app, ["quotas", "check", str(REPO / "quotas" / name)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: quotas ")
    assert "max_hard_per_day" in result.output


def test_a_typo_names_the_key_and_the_nearest_valid_one(tmp_path: Path) -> None:
    path = tmp_path / "quotas.toml"
    path.write_text('version = "q-1"\nmax_hard_per_dya = 10\nrandom_share = 1.5\nqa_rate = "lots"\n')
    with pytest.raises(QuotaConfigError) as raised:
        load_quotas(path)
    message = str(raised.value)
    assert "max_hard_per_dya: unknown key; did you mean max_hard_per_day?" in message
    assert "random_share = 1.5: must be at most 1" in message
    assert "qa_rate = 'lots': must be a number" in message
    for pydantic_wording in ("Extra inputs", "Input should"):
        assert pydantic_wording not in message
    result = CliRunner().invoke(app, ["quotas", "check", str(path)])
    assert isinstance(result.exception, QuotaConfigError)  # main() prints it as `error: ...`, exit 2
