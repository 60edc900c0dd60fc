"""Labels to target per seed, interpolated; intervals across seeds; area between curves; the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alstream.agents.trainer.committee import parse_committee
from alstream.agents.trainer.exceptions import TrainerError
from alstream.cli.main import app
from alstream.simulation.loop import RANDOM, CurvePoint
from alstream.simulation.report import Interval, area_between, labels_to_reach, summarise

POLICIES = Path(__file__).resolve().parents[3] / "policies"


def test_labels_to_target_is_interpolated_between_budget_points() -> None:
    curve = [(20, 0.50), (40, 0.70), (60, 0.80)]
    assert labels_to_reach(curve, 0.75) == pytest.approx(50.0)  # halfway between 40 and 60
    assert labels_to_reach(curve, 0.70) == 40.0
    assert labels_to_reach(curve, 0.40) == 20.0
    assert labels_to_reach(curve, 0.81) is None  # never reached within the budget


def test_area_between_curves_is_the_mean_gap() -> None:
    assert area_between([(0, 0.6), (100, 0.8)], [(0, 0.5), (100, 0.7)]) == pytest.approx(0.1)
    assert area_between([(0, 0.5), (100, 0.5)], [(0, 0.5), (100, 0.7)]) == pytest.approx(-0.1)


def test_interval_is_a_t_interval_across_seeds() -> None:
    one = Interval.of([0.3])
    assert one.low == one.high == 0.3
    three = Interval.of([0.2, 0.3, 0.4])
    assert three.mean == pytest.approx(0.3)
    assert three.half_width == pytest.approx(4.303 * 0.1 / 3**0.5, rel=1e-3)  # t(0.975, 2) = 4.303


def test_labels_saved_is_a_ratio_of_means_with_a_bootstrap_interval() -> None:
    saved = Interval.saving([100, 100, 100, 100], [60, 70, 50, 60])
    assert saved.mean == pytest.approx(0.4)
    assert 0.3 <= saved.low < 0.4 < saved.high <= 0.5
    lucky = Interval.saving([10, 200, 200, 200], [40, 100, 100, 100])  # one seed where random got there early
    assert lucky.mean == pytest.approx(1 - 340 / 610)  # not dominated by that seed's -300%
    assert saved.text(percent=True) == f"+40% [{saved.low:+.0%}, {saved.high:+.0%}]"


def _points(strategy: str, seed: int, curve: list[tuple[int, float]]) -> list[CurvePoint]:
    return [CurvePoint(strategy, seed, labels, value) for labels, value in curve]


def test_summary_is_paired_per_seed_and_counts_censored_seeds_at_the_budget() -> None:
    points = [
        # seed 0: random ends at 0.80 (first reached at 100); the policy reaches 0.80 at 60
        *_points(RANDOM, 0, [(20, 0.5), (60, 0.7), (100, 0.8)]),
        *_points("policy p (margin)", 0, [(20, 0.5), (60, 0.8), (100, 0.85)]),
        # seed 1: random ends at 0.90; the policy never gets there: censored at the budget, 100
        *_points(RANDOM, 1, [(20, 0.5), (60, 0.9), (100, 0.9)]),
        *_points("policy p (margin)", 1, [(20, 0.5), (60, 0.6), (100, 0.7)]),
    ]
    summary = summarise(points, metric="macro_f1", budget=100)
    mine = summary.by_name("policy p (margin)")
    assert mine.per_seed_labels == [60.0, None]
    assert mine.seeds_reaching_target == 1
    assert summary.by_name(RANDOM).per_seed_labels == [100.0, 60.0]
    # random needed 100 and 60 labels (mean 80), the policy 60 and at least 100 (mean 80): nothing saved
    assert mine.labels_saved is not None
    assert mine.labels_saved.mean == pytest.approx(0.0)
    assert mine.labels_saved.low < 0 < mine.labels_saved.high
    assert summary.target.mean == pytest.approx(0.85)


def test_simulate_with_another_committee(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--dataset",
            "iris",
            "--policy",
            str(POLICIES / "default.toml"),
            "--model",
            "logistic_regression,knn+sigmoid",
            "--budget",
            "40",
            "--seeds",
            "2",
            "--batch-size",
            "10",
            "--initial",
            "6",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "committee: logistic_regression,knn+sigmoid" in result.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["committee"] == "logistic_regression,knn+sigmoid" and summary["metric"] == "macro_f1"
    with pytest.raises(TrainerError, match="'svm' is not on the allow-list"):
        parse_committee("logistic_regression,svm")
    with pytest.raises(TrainerError, match=r"\+sigmoid or \+isotonic"):
        parse_committee("knn+platt")


def test_policy_compare_ranks_policies_on_a_history(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "policy",
            "compare",
            str(POLICIES / "entropy.toml"),
            str(POLICIES / "baseline-random.toml"),
            "--dataset",
            "wine",
            "--budget",
            "40",
            "--seeds",
            "2",
            "--batch-size",
            "10",
            "--initial",
            "6",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "best: policy" in result.output
    rows = json.loads((tmp_path / "summary.json").read_text())["strategies"]
    assert {r["strategy"] for r in rows} == {
        "policy 2026.11-entropy-1 (entropy)",
        "policy 2026.11-random-1 (random)",
        RANDOM,
    }
