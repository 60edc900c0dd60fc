"""Turns curve points into the answer a team wants: labels saved versus random, a CSV and a plot.

The target defaults to the random baseline's final mean metric: "how many labels did the policy need
to get where random got with the whole budget". A strategy reaches the target at the first budget
point where its mean over seeds is at or above it.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from alstream.simulation.loop import RANDOM, CurvePoint


@dataclass(frozen=True)
class StrategySummary:
    strategy: str
    final_mean: float
    final_std: float
    labels_to_target: int | None
    seeds_reaching_target: int
    seeds: int


@dataclass(frozen=True)
class Summary:
    metric: str
    target: float
    strategies: list[StrategySummary]

    def labels_saved(self, strategy: str) -> int | None:
        """Labels the strategy saved versus random to reach the target (None if either never did)."""
        by_name = {s.strategy: s for s in self.strategies}
        mine, base = by_name[strategy].labels_to_target, by_name[RANDOM].labels_to_target
        return None if mine is None or base is None else base - mine


def mean_curves(points: list[CurvePoint]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """strategy -> (label counts, mean, std) over seeds."""
    grouped: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for p in points:
        grouped[p.strategy][p.labels].append(p.metric)
    curves = {}
    for strategy, by_count in grouped.items():
        counts = np.array(sorted(by_count))
        curves[strategy] = (
            counts,
            np.array([np.mean(by_count[c]) for c in counts]),
            np.array([np.std(by_count[c]) for c in counts]),
        )
    return curves


def summarise(points: list[CurvePoint], *, metric: str, target: float | None = None) -> Summary:
    curves = mean_curves(points)
    if target is None:
        target = float(curves[RANDOM][1][-1])
    summaries = []
    for strategy, (counts, means, stds) in curves.items():
        reached = np.nonzero(means >= target - 1e-12)[0]
        per_seed: dict[int, list[CurvePoint]] = defaultdict(list)
        for p in points:
            if p.strategy == strategy:
                per_seed[p.seed].append(p)
        summaries.append(
            StrategySummary(
                strategy=strategy,
                final_mean=float(means[-1]),
                final_std=float(stds[-1]),
                labels_to_target=int(counts[reached[0]]) if len(reached) else None,
                seeds_reaching_target=sum(
                    any(p.metric >= target - 1e-12 for p in run) for run in per_seed.values()
                ),
                seeds=len(per_seed),
            )
        )
    summaries.sort(key=lambda s: (s.strategy == RANDOM, s.strategy))
    return Summary(metric=metric, target=float(target), strategies=summaries)


def write_csv(points: list[CurvePoint], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["strategy", "seed", "labels", "metric"])
        for p in sorted(points, key=lambda p: (p.strategy, p.seed, p.labels)):
            writer.writerow([p.strategy, p.seed, p.labels, f"{p.metric:.6f}"])


def write_summary(summary: Summary, path: Path) -> None:
    payload = {
        "metric": summary.metric,
        "target": summary.target,
        "strategies": [asdict(s) for s in summary.strategies],
        "labels_saved": {
            s.strategy: summary.labels_saved(s.strategy) for s in summary.strategies if s.strategy != RANDOM
        },
    }
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")


def plot(points: list[CurvePoint], summary: Summary, path: Path, *, title: str) -> None:
    """Mean learning curve per strategy with a ±1 std band, and the target line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    try:
        for strategy, (counts, means, stds) in sorted(mean_curves(points).items()):
            ax.plot(counts, means, marker="o", markersize=3, label=strategy)
            ax.fill_between(counts, means - stds, means + stds, alpha=0.15)
        ax.axhline(
            summary.target, color="grey", linestyle="--", linewidth=1, label=f"target {summary.target:.3f}"
        )
        ax.set_xlabel("labels")
        ax.set_ylabel(summary.metric)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
