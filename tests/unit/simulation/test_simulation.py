"""The simulator: uncertainty sampling beats random on digits, through the agents' own policy code."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from alstream.cli.main import app
from alstream.simulation.datasets import load_dataset
from alstream.simulation.exceptions import SimulationError
from alstream.simulation.loop import (
    RANDOM,
    SimulationConfig,
    load_selection_policy,
    run_simulation,
    strategy_label,
)
from alstream.simulation.report import summarise

POLICIES = Path(__file__).resolve().parents[3] / "policies"


def test_entropy_policy_reaches_random_final_accuracy_with_fewer_labels() -> None:
    policy = load_selection_policy(str(POLICIES / "entropy.toml"))
    points = run_simulation(
        load_dataset("digits"), policy, SimulationConfig(budget=260, seeds=3, batch_size=20)
    )
    summary = summarise(points, metric="accuracy")
    mine = summary.by_name(strategy_label(policy))
    assert mine.labels_to_target.mean < summary.by_name(RANDOM).labels_to_target.mean
    assert mine.seeds_reaching_target == 3
    saved = summary.labels_saved(strategy_label(policy))
    assert saved is not None and saved > 0


def test_same_seed_set_and_split_for_both_strategies() -> None:
    policy = load_selection_policy(str(POLICIES / "entropy.toml"))
    points = run_simulation(
        load_dataset("wine"), policy, SimulationConfig(budget=40, seeds=2, batch_size=10, initial_size=6)
    )
    firsts = {(p.strategy, p.seed): p.metric for p in points if p.labels == 6}
    for seed in range(2):
        assert firsts[(strategy_label(policy), seed)] == firsts[(RANDOM, seed)]


def test_csv_dataset_with_rare_class_recall(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "rare.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["f1", "f2", "kind"])
        for index in range(300):
            rare = index % 10 == 0
            centre = 2.0 if rare else 0.0
            writer.writerow([rng.normal(centre), rng.normal(centre), "rare" if rare else "common"])
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--dataset",
            str(path),
            "--label-column",
            "kind",
            "--signal",
            "margin",
            "--metric",
            "recall:rare",
            "--budget",
            "60",
            "--seeds",
            "2",
            "--batch-size",
            "10",
            "--initial",
            "10",
            "--out",
            str(tmp_path / "out"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "recall:rare" in (tmp_path / "out" / "summary.json").read_text()
    rows = list(csv.DictReader((tmp_path / "out" / "curves.csv").read_text().splitlines()))
    assert {row["strategy"] for row in rows} == {"policy adhoc (margin)", RANDOM}
    assert (tmp_path / "out" / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_with_policy_file_writes_plot_and_summary(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--dataset",
            "breast_cancer",
            "--policy",
            str(POLICIES / "entropy.toml"),
            "--budget",
            "50",
            "--seeds",
            "2",
            "--batch-size",
            "10",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "target" in result.output and "random" in result.output
    assert (tmp_path / "summary.json").exists() and (tmp_path / "learning_curve.png").exists()


def test_bad_inputs_fail_with_the_option_to_fix(tmp_path: Path) -> None:
    with pytest.raises(SimulationError, match="--dataset"):
        load_dataset("no-such-dataset")
    (tmp_path / "x.csv").write_text("a,b\n1,2\n")
    with pytest.raises(SimulationError, match="--label-column"):
        load_dataset(str(tmp_path / "x.csv"))
    with pytest.raises(SimulationError, match="--budget"):
        SimulationConfig(budget=5000).check(load_dataset("wine"))


def test_router_quotas_cap_hard_items_and_spend_budget_on_qa() -> None:
    from alstream.agents.router.pool import HARD, QA
    from alstream.agents.router.quotas import Quotas
    from alstream.simulation.quotas_mix import MixTally

    tally = MixTally(
        quotas=Quotas(max_hard_per_day=5, min_normal_share=0.5, random_share=0.1, qa_rate=0.1), day=20
    )
    rng = np.random.default_rng(0)
    picked, qa = tally.batch(np.arange(100), np.arange(100, 120), 20, rng)
    assert tally.history.count(HARD) == 5
    assert qa == tally.history.count(QA) == 2
    assert len(picked) == 18 and len(set(picked.tolist())) == 18
    assert set(picked.tolist()) >= {0, 1, 2, 3, 4}


def test_quota_constrained_policy_still_spends_exactly_the_budget() -> None:
    from alstream.agents.router.quotas import Quotas

    policy = load_selection_policy(str(POLICIES / "entropy.toml"))
    config = SimulationConfig(budget=70, seeds=1, batch_size=10, initial_size=10, quotas=Quotas(qa_rate=0.2))
    points = run_simulation(load_dataset("wine"), policy, config)
    assert max(p.labels for p in points if p.strategy == strategy_label(policy)) == 70


def test_cold_start_and_diversity_shape_the_simulated_batches() -> None:
    """The simulator applies the policy's cold-start rule and the window's diversity pick like the scorer."""
    from alstream.agents.selection.policy import policy_from_dict
    from alstream.agents.trainer.committee import fit_committee
    from alstream.simulation.loop import _PolicyChooser

    data = load_dataset("digits")
    labeled = np.arange(40)
    pool = np.arange(40, 1200)
    bundle = fit_committee(data.features[labeled], data.labels[labeled])
    config = SimulationConfig(budget=100)

    def picks(**extra: object) -> np.ndarray:
        policy = policy_from_dict({"version": "t", "goal": "g", "signal": {"name": "margin"}, **extra})
        chooser = _PolicyChooser(dataset=data, policy=policy, config=config, rng=np.random.default_rng(0))
        return chooser(bundle, pool, labeled, 20)[0]

    ranked = picks()
    cold = picks(cold_start={"labels_per_class": 50})  # 40 labels cannot hold 50 of every class
    spread = picks(diversity={"method": "kmeans++", "pool": 5})
    assert len(set(cold.tolist()) & set(ranked.tolist())) <= 3  # random draws, not the ranking
    warm = picks(cold_start={"labels_per_class": 1})
    assert warm.tolist() == ranked.tolist()  # every class has a label: the signal ranks
    features = data.features

    def mean_distance(chosen: np.ndarray) -> float:
        return float(
            np.mean([np.linalg.norm(features[a] - features[b]) for a in chosen for b in chosen if a < b])
        )

    assert mean_distance(spread) > mean_distance(ranked)
