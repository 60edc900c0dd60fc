"""Policy files: validation, fraction bounds, version bump and weekly limits, recorded history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alstream.agents.selection.exceptions import PolicyChangeRefused, PolicyError
from alstream.agents.selection.history import active_policy, apply_policy, read_history
from alstream.agents.selection.policy import load_policy

POLICIES = Path(__file__).resolve().parents[3] / "policies"


def write(path: Path, version: str, *, signal: str = "entropy", extra: str = "") -> Path:
    path.write_text(
        f'version = "{version}"\ngoal = "g"\n{extra}\n[signal]\nname = "{signal}"\n', encoding="utf-8"
    )
    return path


def test_every_example_policy_loads() -> None:
    files = sorted(POLICIES.glob("*.toml"))
    assert len(files) >= 4
    versions = {load_policy(f).version for f in files}
    assert len(versions) == len(files)


def test_defaults_and_slice_budget(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path / "p.toml", "1"))
    assert policy.random_slice_fraction == 0.15
    assert policy.random_slice_candidates_per_window == 4  # 20 * 0.15 / 0.85 rounded: 4 / 24 = 17%


def test_fraction_outside_band_needs_force(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="force_random_slice_fraction"):
        load_policy(write(tmp_path / "p.toml", "1", extra="random_slice_fraction = 0.02"))
    forced = load_policy(
        write(
            tmp_path / "q.toml", "1", extra="random_slice_fraction = 0.02\nforce_random_slice_fraction = true"
        )
    )
    assert forced.random_slice_fraction == 0.02


def test_unknown_keys_and_signals_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="unknown key"):
        load_policy(write(tmp_path / "p.toml", "1", extra="budget = 3"))
    with pytest.raises(PolicyError, match="unknown signal"):
        load_policy(write(tmp_path / "q.toml", "1", signal="oracle"))
    with pytest.raises(PolicyError, match="unit_of_work"):
        load_policy(write(tmp_path / "r.toml", "1", signal="hardness"))


def test_apply_rules_and_history(tmp_path: Path) -> None:
    state = tmp_path / "state"
    t0 = datetime(2026, 11, 2, tzinfo=UTC)
    first = write(tmp_path / "a.toml", "1")
    assert apply_policy(first, state_dir=state, now=t0).changed
    assert not apply_policy(first, state_dir=state, now=t0 + timedelta(days=1)).changed  # same content: no-op
    same_version = write(tmp_path / "b.toml", "1", signal="margin")
    with pytest.raises(PolicyChangeRefused, match="bump"):
        apply_policy(same_version, state_dir=state, now=t0 + timedelta(days=30), force=True)
    bumped = write(tmp_path / "c.toml", "2", signal="margin")
    with pytest.raises(PolicyChangeRefused, match="weekly"):
        apply_policy(bumped, state_dir=state, now=t0 + timedelta(days=3))
    forced = apply_policy(bumped, state_dir=state, now=t0 + timedelta(days=3), force=True, reason="incident")
    assert forced.forced
    later = write(tmp_path / "d.toml", "3", signal="least_confidence")
    assert not apply_policy(later, state_dir=state, now=t0 + timedelta(days=11)).forced
    history = read_history(state)
    assert [h["version"] for h in history] == ["1", "2", "3"]
    assert [h["forced"] for h in history] == [False, True, False]
    assert history[1]["reason"] == "incident"
    active = active_policy(state)
    assert active is not None and active.version == "3" and active.signal.name == "least_confidence"
