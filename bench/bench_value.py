"""Proof of value on a suite of labeled datasets: every shipped policy against random labeling.

Runs the simulator (``alstream.simulation``: the agents' own policy, slice, diversity and cold-start
code, the trainer's committee and metrics) on seven offline datasets of different shapes: scikit-learn's
bundled ``digits``, ``breast_cancer`` and ``wine``, and generated ``imbalanced`` (a 3% rare class; the
goal is its recall), ``many_clusters`` (12 classes x 3 clusters), ``label_noise`` (20% wrong labels)
and ``high_dim`` (384-dim unit embeddings). Nothing is downloaded.

For each dataset it prints every policy's labels saved versus random (reaching random's final metric,
per seed, interpolated; mean and 95% interval across seeds), the area between the curves, and a
summary line for the default policy against its targets (``TARGET_SAVING``, ``WORST_LOSS``): at least
30% fewer labels on most datasets, never worse than random by more than 10% of random's labels on any.

    nice -n 10 .venv/bin/python bench/bench_value.py                 # the suite, every shipped policy
    nice -n 10 .venv/bin/python bench/bench_value.py --quick         # 3 seeds, 4 datasets
    nice -n 10 .venv/bin/python bench/bench_value.py --committees \\
        "logistic_regression,gaussian_nb;logistic_regression,mlp;logistic_regression,random_forest"

``--committees`` compares committees instead (the default policy against random with each): final
metric of random labeling and of the policy per dataset, plus the cost the trainer and the scorer pay
at 10k labels (fit seconds, scoring microseconds per item, one core). CPU-heavy: run it niced; on a
shared machine compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alstream.agents.selection.policy import Policy, load_policy
from alstream.agents.trainer.committee import committee_label, fit_committee, parse_committee
from alstream.agents.trainer.config import DEFAULT_COMMITTEE, CommitteeMember
from alstream.simulation.datasets import load_dataset
from alstream.simulation.loop import RANDOM, SimulationConfig, run_simulation, strategy_label
from alstream.simulation.report import Summary, summarise

REPO = Path(__file__).resolve().parents[1]

DEFAULT_POLICY = REPO / "policies" / "default.toml"
TARGET_SAVING = 0.30  # at least 30% fewer labels than random ...
WORST_LOSS = -0.10  # ... and never more than 10% of random's labels worse


@dataclass(frozen=True)
class Case:
    dataset: str
    budget: int
    batch: int
    initial: int
    min_seeds: int = 0  # small, fast datasets are noisy: more seeds for the same confidence


SUITE = (
    Case("digits", 300, 20, 20),
    Case("breast_cancer", 80, 10, 10, min_seeds=12),
    Case("wine", 50, 5, 6, min_seeds=12),
    Case("imbalanced", 400, 20, 20),
    Case("many_clusters", 600, 20, 24),
    Case("label_noise", 400, 20, 20),
    Case("high_dim", 400, 20, 20),
)
QUICK = ("digits", "imbalanced", "many_clusters", "label_noise")


def shipped_policies(files: list[Path] | None = None) -> tuple[list[Policy], list[str]]:
    """Every policy in policies/ (or ``files``) that runs on item embeddings; the others with the reason
    they do not."""
    runnable, skipped = [], []
    for path in files or sorted((REPO / "policies").glob("*.toml")):
        policy = load_policy(path)
        if policy.unit_of_work != "ITEM":
            skipped.append(f"{path.name} ({policy.unit_of_work} units: needs segmentation summaries)")
        else:
            runnable.append(policy)
    return runnable, skipped


def run_case(
    case: Case, policies: list[Policy], seeds: int, committee: tuple[CommitteeMember, ...]
) -> tuple[Case, Summary, float]:
    data = load_dataset(case.dataset)
    config = SimulationConfig(
        budget=case.budget,
        seeds=max(seeds, case.min_seeds),
        batch_size=case.batch,
        initial_size=max(case.initial, len(data.classes)),
        metric=data.default_metric,
        committee=committee,
    )
    started = time.process_time()
    points = run_simulation(data, policies, config)
    return case, summarise(points, metric=config.metric, budget=case.budget), time.process_time() - started


def _saved(summary: Summary, label: str) -> str:
    mine = summary.by_name(label)
    if mine.labels_saved is None or mine.labels_saved_count is None:
        return "n/a"
    censored = (
        ""
        if mine.seeds_reaching_target == mine.seeds
        else f", {mine.seeds - mine.seeds_reaching_target} not reached"
    )
    return f"{mine.labels_saved.text(percent=True)} ({mine.labels_saved_count.mean:+.0f} labels{censored})"


def print_case(case: Case, summary: Summary, seconds: float, labels: list[str]) -> None:
    base = summary.by_name(RANDOM)
    print(
        f"\n{case.dataset} ({summary.metric}, budget {case.budget}, {base.seeds} seeds; random's final "
        f"{base.final.text()}, reached at {base.labels_to_target.text(digits=0)} labels; {seconds:.0f} s CPU)"
    )
    print(f"  {'policy':58s} {'labels saved vs random':34s} {'area vs random':>16s} {'final':>16s}")
    for label in sorted(labels, key=lambda s: -(summary.labels_saved(s) or -math.inf)):
        mine = summary.by_name(label)
        area = mine.area_vs_random.text() if mine.area_vs_random else "-"
        print(f"  {label:58s} {_saved(summary, label):34s} {area:>16s} {mine.final.text():>16s}")


def verdict(results: list[tuple[Case, Summary, float]], label: str) -> str:
    savings = {case.dataset: summary.labels_saved(label) for case, summary, _ in results}
    met = [d for d, s in savings.items() if s is not None and s >= TARGET_SAVING]
    worse = [d for d, s in savings.items() if s is None or s < WORST_LOSS]
    most = len(met) > len(savings) / 2
    parts = ", ".join(f"{d} {s:+.0%}" if s is not None else f"{d} n/a" for d, s in savings.items())
    return (
        f"SUMMARY {label}: >=30% fewer labels on {len(met)}/{len(savings)} datasets "
        f"({'met' if most else 'NOT met'}: most); worse than random by >10% on {len(worse)} "
        f"({'met' if not worse else 'NOT met: ' + ', '.join(worse)}). Per dataset: {parts}"
    )


def committee_costs(members: tuple[CommitteeMember, ...]) -> tuple[float, float]:
    """(fit seconds at 10k labels, scoring microseconds per item), CPU time, 64-dim, 10 classes."""
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=15_000,
        n_features=64,
        n_informative=20,
        n_classes=10,
        n_clusters_per_class=2,
        random_state=0,
    )
    started = time.process_time()
    bundle = fit_committee(x[:10_000], y[:10_000].astype(str), members=members)
    fit = time.process_time() - started
    started = time.process_time()
    for estimator in bundle.estimators:
        estimator.predict_proba(x[10_000:])
    return fit, (time.process_time() - started) / 5_000 * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="3 seeds on 4 datasets")
    parser.add_argument("--datasets", default="", help="comma-separated subset of the suite")
    parser.add_argument("--jobs", type=int, default=1, help="datasets simulated in parallel")
    parser.add_argument("--committees", default="", help="';'-separated committees to compare")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--policies", default="", help="comma-separated policy files instead of policies/")
    parser.add_argument("--default", type=Path, default=DEFAULT_POLICY, help="the policy the summary judges")
    args = parser.parse_args()
    seeds = 3 if args.quick else args.seeds
    wanted = set(args.datasets.split(",")) if args.datasets else set(QUICK if args.quick else ())
    cases = [c for c in SUITE if not wanted or c.dataset in wanted]

    if args.committees:
        committees = [parse_committee(c) for c in args.committees.split(";")]
        return compare_committees(cases, committees, seeds, args.jobs, load_policy(args.default))

    policies, skipped = shipped_policies(
        [Path(p) for p in args.policies.split(",")] if args.policies else None
    )
    labels = [strategy_label(p) for p in policies]
    default_label = strategy_label(load_policy(args.default))
    print(f"committee: {committee_label(DEFAULT_COMMITTEE)}; {seeds} seeds; policies: {', '.join(labels)}")
    for reason in skipped:
        print(f"skipped: {reason}")
    results = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(run_case, case, policies, seeds, DEFAULT_COMMITTEE) for case in cases]
        for future in futures:
            case, summary, seconds = future.result()
            print_case(case, summary, seconds, labels)
            results.append((case, summary, seconds))
    print()
    for label in labels:
        if label != default_label:
            print(verdict(results, label).replace("SUMMARY", "        "))
    print(verdict(results, default_label))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    case.dataset: {
                        s.strategy: {
                            "labels_saved": s.labels_saved.mean if s.labels_saved else None,
                            "labels_saved_ci": [s.labels_saved.low, s.labels_saved.high]
                            if s.labels_saved
                            else None,
                            "area": s.area_vs_random.mean if s.area_vs_random else None,
                            "final": s.final.mean,
                        }
                        for s in summary.strategies
                    }
                    for case, summary, _ in results
                },
                indent=2,
            )
        )
    return 0


def compare_committees(
    cases: list[Case], committees: list[tuple[CommitteeMember, ...]], seeds: int, jobs: int, policy: Policy
) -> int:
    label = strategy_label(policy)
    print(f"policy {label}; {seeds} seeds; columns: random's final / the policy's final, labels saved")
    rows = []
    for members in committees:
        fit, score = committee_costs(members)
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            done = [f.result() for f in [pool.submit(run_case, c, [policy], seeds, members) for c in cases]]
        cells = []
        for case, summary, _ in done:
            saved = summary.labels_saved(label)
            finals = f"{summary.by_name(RANDOM).final.mean:.3f}/{summary.by_name(label).final.mean:.3f}"
            cells.append(
                f"{case.dataset} {finals} {saved:+.0%}" if saved is not None else f"{case.dataset} n/a"
            )
        mean_random = np.mean([s.by_name(RANDOM).final.mean for _, s, _ in done])
        mean_policy = np.mean([s.by_name(label).final.mean for _, s, _ in done])
        rows.append((committee_label(members), fit, score, mean_random, mean_policy, cells))
        print(
            f"{committee_label(members):45s} fit@10k {fit:5.1f}s  score {score:5.1f}us/item  "
            f"mean final random {mean_random:.3f} policy {mean_policy:.3f} | " + "; ".join(cells),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
