"""``alstream policy``: check, explain (every signal in plain words), apply refusals, history."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from alstream.agents.selection.exceptions import PolicyChangeRefused, PolicyError
from alstream.agents.selection.policy import load_policy
from alstream.agents.selection.signals import SIGNALS
from alstream.cli.main import app


def write(path: Path, version: str, signal: str = "entropy") -> Path:
    path.write_text(
        f'version = "{version}"\ngoal = "recall on rare class"\n[signal]\nname = "{signal}"\n',
        encoding="utf-8",
    )
    return path


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ALSTREAM_PATHS__STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("ALSTREAM_PATHS__POLICY_FILE", raising=False)
    return tmp_path / "state"


def test_check_and_explain(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["policy", "check", str(write(tmp_path / "p.toml", "v1"))])
    assert ok.exit_code == 0 and "v1" in ok.output
    bad = tmp_path / "bad.toml"
    bad.write_text('version = "v1"\ngoal = "g"\nrandom_slice_fraction = 0.9\n', encoding="utf-8")
    refused = runner.invoke(app, ["policy", "check", str(bad)])
    assert isinstance(refused.exception, PolicyError) and "force_random_slice_fraction" in str(
        refused.exception
    )
    explained = runner.invoke(app, ["policy", "explain", str(tmp_path / "p.toml")])
    assert (
        "Goal: recall on rare class" in explained.output
        and SIGNALS["entropy"].explanation in explained.output
    )  # type: ignore[attr-defined]
    every = runner.invoke(app, ["policy", "explain", "--signals"])
    assert all(f"{name}:" in every.output for name in SIGNALS)


def test_apply_refuses_a_change_within_a_week_unless_forced(tmp_path: Path, state_dir: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["policy", "apply", str(write(tmp_path / "a.toml", "v1"))]).exit_code == 0
    second = write(tmp_path / "b.toml", "v2", signal="margin")
    refused = runner.invoke(app, ["policy", "apply", str(second)])
    assert isinstance(refused.exception, PolicyChangeRefused)
    forced = runner.invoke(app, ["policy", "apply", str(second), "--force", "--reason", "incident 42"])
    assert forced.exit_code == 0 and "forced" in forced.output
    history = runner.invoke(app, ["policy", "history"])
    assert "v1" in history.output and "v2" in history.output
    active = runner.invoke(app, ["policy", "explain"])
    assert "Policy v2" in active.output
    assert (state_dir / "policy-history.jsonl").read_text().count("\n") == 2


def test_explain_and_apply_a_fused_diverse_cold_starting_policy(tmp_path: Path, state_dir: Path) -> None:
    path = tmp_path / "fused.toml"
    path.write_text(
        'version = "f1"\ngoal = "g"\n'
        '[[signals]]\nname = "margin"\nweight = 3\n[[signals]]\nname = "kl_disagreement"\n'
        '[diversity]\nmethod = "kmeans++"\npool = 3\n[cold_start]\nlabels_per_class = 4\n',
        encoding="utf-8",
    )
    explained = CliRunner().invoke(app, ["policy", "explain", str(path)])
    assert explained.exit_code == 0, explained.output
    text = " ".join(explained.output.split())
    assert "Signals (rank fusion): fusion:margin+kl_disagreement" in text
    assert "weighted blend of margin (75%) and kl_disagreement (25%)" in text
    assert "20 candidates spread over the embedding space (kmeans++ among its top 3 x 20 by score)" in text
    assert "random selection until the model has 4 labels of every class" in text
    applied = CliRunner().invoke(app, ["policy", "apply", str(path)])
    assert applied.exit_code == 0, applied.output
    from alstream.agents.selection.history import active_policy

    active = active_policy(state_dir)  # the active copy is written as TOML and reads back the same
    assert active is not None and active.fingerprint() == load_policy(path).fingerprint()
