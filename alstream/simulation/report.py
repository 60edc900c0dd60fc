"""Turns curve points into the answer a team wants: labels saved versus random, with its uncertainty.

Every seed is a paired experiment (same split, same seed set for every strategy), so the figures are
computed per seed and then summarised across seeds:

* **target**: random's final metric *of that seed* (or ``--target``): "where random labeling got
  with the whole budget";
* **labels to target**: the first point where a strategy's curve reaches the target, interpolated
  linearly between the two budget points around the crossing (so batches of 20 do not round every
  answer to a multiple of 20). A seed that never reaches it within the budget is *censored*: it is
  counted at the budget (the most favourable value it could have) and reported as not reaching;
* **labels saved**: 1 - (the policy's mean labels to target / random's mean labels to target): the
  share of random's labels the policy did without. A ratio of means, not a mean of per-seed ratios,
  which a single seed where random got lucky early would dominate; its interval comes from resampling
  the seeds (paired bootstrap);
* **area between curves**: the mean of (policy - random) over the budget, in metric units: how much
  better the model is along the way, not only at the target.

Means come with a 95% confidence interval across seeds (Student's t; labels saved: paired bootstrap),
so "saves 35% +- 20%" is visibly different from "saves 35% +- 2%".
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from alstream.simulation.loop import RANDOM, CurvePoint


@dataclass(frozen=True)
class Interval:
    """A mean across seeds with its 95% confidence interval (``low == high == mean`` for one seed)."""

    mean: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Interval:
        data = np.asarray(values, dtype=float)
        if len(data) == 0:
            return cls(math.nan, math.nan, math.nan, 0)
        mean = float(data.mean())
        if len(data) < 2:
            return cls(mean, mean, mean, 1)
        half = float(stats.t.ppf(0.975, len(data) - 1) * data.std(ddof=1) / math.sqrt(len(data)))
        return cls(mean, mean - half, mean + half, len(data))

    @classmethod
    def saving(cls, base: list[float], mine: list[float], *, resamples: int = 4000) -> Interval:
        """1 - mean(mine) / mean(base) over paired seeds, with a percentile bootstrap interval."""
        b, m = np.asarray(base, dtype=float), np.asarray(mine, dtype=float)
        if len(b) == 0 or b.sum() <= 0:
            return cls(math.nan, math.nan, math.nan, 0)
        point = float(1.0 - m.mean() / b.mean())
        if len(b) < 2:
            return cls(point, point, point, 1)
        rng = np.random.default_rng(0)  # the same data always gives the same interval
        draws = rng.integers(0, len(b), size=(resamples, len(b)))
        ratios = 1.0 - m[draws].mean(axis=1) / np.maximum(b[draws].mean(axis=1), 1e-12)
        low, high = np.percentile(ratios, [2.5, 97.5])
        return cls(point, float(low), float(high), len(b))

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def text(self, *, percent: bool = False, digits: int = 3) -> str:
        if self.n == 0:
            return "n/a"
        if percent:
            return f"{self.mean:+.0%} [{self.low:+.0%}, {self.high:+.0%}]"
        return f"{self.mean:.{digits}f} ± {self.half_width:.{digits}f}"


@dataclass(frozen=True)
class StrategySummary:
    strategy: str
    final: Interval
    labels_to_target: Interval  # censored seeds counted at the budget
    seeds_reaching_target: int
    seeds: int
    labels_saved: Interval | None = None  # share of random's labels (ratio of means); None for random
    labels_saved_count: Interval | None = None
    area_vs_random: Interval | None = None
    per_seed_labels: list[float | None] = field(default_factory=list)  # None: not reached


@dataclass(frozen=True)
class Summary:
    metric: str
    target: Interval  # the per-seed targets
    budget: int
    strategies: list[StrategySummary]

    def by_name(self, strategy: str) -> StrategySummary:
        return {s.strategy: s for s in self.strategies}[strategy]

    def labels_saved(self, strategy: str) -> float | None:
        """Mean share of random's labels the strategy saved to reach the target (None for random)."""
        saved = self.by_name(strategy).labels_saved
        return None if saved is None else saved.mean

    def ranked(self) -> list[StrategySummary]:
        """Policies best first (labels saved, then area between curves); random last."""
        policies = [s for s in self.strategies if s.strategy != RANDOM]
        policies.sort(
            key=lambda s: (
                -(s.labels_saved.mean if s.labels_saved else -math.inf),
                -(s.area_vs_random.mean if s.area_vs_random else -math.inf),
            )
        )
        return [*policies, self.by_name(RANDOM)]


def labels_to_reach(curve: list[tuple[int, float]], target: float) -> float | None:
    """First label count where the curve reaches ``target``, interpolated between budget points."""
    previous: tuple[int, float] | None = None
    for labels, value in curve:
        if value >= target - 1e-12:
            if previous is None or value == previous[1]:
                return float(labels)
            x0, y0 = previous
            return x0 + (target - y0) / (value - y0) * (labels - x0)
        previous = (labels, value)
    return None


def area_between(curve: list[tuple[int, float]], baseline: list[tuple[int, float]]) -> float:
    """Mean of (curve - baseline) over the label range both cover, both interpolated on one grid."""
    start = max(curve[0][0], baseline[0][0])
    end = min(curve[-1][0], baseline[-1][0])
    if end <= start:
        return float(curve[-1][1] - baseline[-1][1])
    grid = np.linspace(start, end, 200)
    mine = np.interp(grid, [p[0] for p in curve], [p[1] for p in curve])
    base = np.interp(grid, [p[0] for p in baseline], [p[1] for p in baseline])
    return float(np.trapezoid(mine - base, grid) / (end - start))


def _curves(points: list[CurvePoint]) -> dict[str, dict[int, list[tuple[int, float]]]]:
    """strategy -> seed -> [(labels, metric)] sorted by labels."""
    grouped: dict[str, dict[int, list[tuple[int, float]]]] = defaultdict(lambda: defaultdict(list))
    for p in points:
        grouped[p.strategy][p.seed].append((p.labels, p.metric))
    for by_seed in grouped.values():
        for run in by_seed.values():
            run.sort()
    return grouped


def summarise(
    points: list[CurvePoint], *, metric: str, target: float | None = None, budget: int | None = None
) -> Summary:
    curves = _curves(points)
    if RANDOM not in curves:
        raise ValueError("the points hold no random baseline")
    seeds = sorted(curves[RANDOM])
    spent = budget or max(p.labels for p in points)
    targets = {s: target if target is not None else curves[RANDOM][s][-1][1] for s in seeds}
    random_labels = {s: labels_to_reach(curves[RANDOM][s], targets[s]) for s in seeds}
    summaries = []
    for strategy, by_seed in curves.items():
        reached = {s: labels_to_reach(by_seed[s], targets[s]) for s in seeds}
        counted = {s: spent if reached[s] is None else reached[s] for s in seeds}
        saved = saved_count = area = None
        if strategy != RANDOM:
            pairs = [
                (float(random_labels[s] if random_labels[s] is not None else spent), float(counted[s]))  # type: ignore[arg-type]
                for s in seeds
            ]
            saved = Interval.saving([base for base, _ in pairs], [mine for _, mine in pairs])
            saved_count = Interval.of([base - mine for base, mine in pairs])
            area = Interval.of([area_between(by_seed[s], curves[RANDOM][s]) for s in seeds])
        summaries.append(
            StrategySummary(
                strategy=strategy,
                final=Interval.of([by_seed[s][-1][1] for s in seeds]),
                labels_to_target=Interval.of([float(counted[s]) for s in seeds]),  # type: ignore[arg-type]
                seeds_reaching_target=sum(r is not None for r in reached.values()),
                seeds=len(seeds),
                labels_saved=saved,
                labels_saved_count=saved_count,
                area_vs_random=area,
                per_seed_labels=[reached[s] for s in seeds],
            )
        )
    summaries.sort(key=lambda s: (s.strategy == RANDOM, s.strategy))
    return Summary(
        metric=metric, target=Interval.of(list(targets.values())), budget=spent, strategies=summaries
    )


def mean_curves(points: list[CurvePoint]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """strategy -> (label counts, mean, 95% CI half-width) over seeds, on the budget points."""
    grouped: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for p in points:
        grouped[p.strategy][p.labels].append(p.metric)
    curves = {}
    for strategy, by_count in grouped.items():
        counts = np.array(sorted(by_count))
        intervals = [Interval.of(by_count[c]) for c in counts]
        curves[strategy] = (
            counts,
            np.array([i.mean for i in intervals]),
            np.array([i.half_width for i in intervals]),
        )
    return curves


def write_csv(points: list[CurvePoint], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["strategy", "seed", "labels", "metric"])
        for p in sorted(points, key=lambda p: (p.strategy, p.seed, p.labels)):
            writer.writerow([p.strategy, p.seed, p.labels, f"{p.metric:.6f}"])


def write_summary(summary: Summary, path: Path, *, extra: dict[str, object] | None = None) -> None:
    payload = {
        "metric": summary.metric,
        "budget": summary.budget,
        "target": asdict(summary.target),
        "strategies": [asdict(s) for s in summary.strategies],
        "labels_saved": {
            s.strategy: summary.labels_saved(s.strategy) for s in summary.strategies if s.strategy != RANDOM
        },
        **(extra or {}),
    }
    path.write_text(json.dumps(payload, indent=2, sort_keys=True, default=_json_safe) + "\n")


def _json_safe(value: object) -> object:
    return None if isinstance(value, float) and math.isnan(value) else str(value)


def plot(points: list[CurvePoint], summary: Summary, path: Path, *, title: str) -> None:
    """Mean learning curve per strategy with its 95% band across seeds, and the target line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    try:
        for strategy, (counts, means, half) in sorted(mean_curves(points).items()):
            ax.plot(counts, means, marker="o", markersize=3, label=strategy)
            ax.fill_between(counts, means - half, means + half, alpha=0.15)
        ax.axhline(
            summary.target.mean,
            color="grey",
            linestyle="--",
            linewidth=1,
            label=f"target (random's final) {summary.target.mean:.3f}",
        )
        ax.set_xlabel("labels")
        ax.set_ylabel(summary.metric)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
    finally:
        plt.close(fig)
