"""PSI drift check on the random slice: quiet on a stable stream, loud on a shifted one, persisted."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alstream.agents.scorer.drift import DriftMonitor, psi


def test_psi_hand_computed() -> None:
    # (0.5-0.25) ln(0.5/0.25) + (0.5-0.75) ln(0.5/0.75)
    expected = 0.25 * np.log(2) - 0.25 * np.log(2 / 3)
    assert abs(psi(np.array([25, 75]), np.array([50, 50])) - expected) < 1e-9
    assert psi(np.array([10, 10]), np.array([1, 1])) == 0.0


def test_shift_detected_week_over_week_and_survives_restart(tmp_path: Path) -> None:
    now = [0.0]
    state = tmp_path / "drift.json"
    rng = np.random.default_rng(0)
    monitor = DriftMonitor(
        period_s=100, threshold=0.2, min_samples=200, state_file=state, clock=lambda: now[0]
    )
    monitor.add(rng.uniform(0, 1, 1000), ["a"] * 500 + ["b"] * 500)
    now[0] = 150  # next period: same distribution
    monitor.add(rng.uniform(0, 1, 1000), ["a"] * 500 + ["b"] * 500)
    assert not monitor.shifted and monitor.psi_score < 0.05
    now[0] = 260  # next period: scores and classes shifted
    monitor.add(rng.uniform(0.5, 1, 1000), ["a"] * 900 + ["b"] * 100)
    assert monitor.shifted and monitor.psi_score > 0.2 and monitor.psi_class > 0.2
    monitor.save()
    again = DriftMonitor(period_s=100, threshold=0.2, min_samples=200, state_file=state, clock=lambda: now[0])
    assert again.shifted
