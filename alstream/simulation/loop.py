"""The replay: label in batches chosen by the policy (or at random), retrain, evaluate, repeat.

Both strategies start from the same stratified seed set and the same held-out test split for a given
seed, so their curves differ only by how items were chosen. The policy strategy uses the scorer's own
code: ``signal_named`` for the score and ``in_random_slice`` for the fixed random slice (slice items
are never ranked; a batch takes the slice's share of them at random, as the router mixes them in).
The committee and the metrics are the trainer's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from alstream.agents.trainer.committee import fit_committee, member_probabilities
from alstream.agents.trainer.evaluation import metric_values, primary
from alstream.models.artifacts import ModelBundle
from alstream.simulation.datasets import Dataset
from alstream.simulation.exceptions import SimulationError

RANDOM = "random"


@dataclass(frozen=True)
class SelectionPolicy:
    """What the simulator needs from the ML owner's policy file."""

    version: str
    signal: str
    signal_params: dict[str, Any] = field(default_factory=dict)
    random_slice_fraction: float = 0.15
    random_slice_salt: str = "alstream"

    @property
    def label(self) -> str:
        return f"policy {self.version} ({self.signal})"


def selection_from_policy(policy: Any) -> SelectionPolicy:
    """Adapt a loaded :mod:`alstream.agents.selection.policy` object (duck-typed, read-only)."""
    spec = policy.signal  # a SignalSpec: name + params
    return SelectionPolicy(
        version=str(policy.version),
        signal=str(spec.name),
        signal_params=dict(spec.params),
        random_slice_fraction=float(policy.random_slice_fraction),
        random_slice_salt=str(policy.random_slice_salt),
    )


def load_selection_policy(path: str) -> SelectionPolicy:
    """Load the policy file with the agents' loader (never a re-implementation)."""
    from alstream.agents.selection.policy import load_policy

    return selection_from_policy(load_policy(path))


@dataclass(frozen=True)
class SimulationConfig:
    budget: int
    seeds: int = 3
    batch_size: int = 20
    initial_size: int = 20
    test_share: float = 0.3
    metric: str = "accuracy"
    quotas: Any = None  # alstream.agents.router.quotas.Quotas: mix each batch with the router's rules
    labels_per_day: int = 100  # one simulated annotator's day, for the router's rolling-day quotas

    def check(self, dataset: Dataset) -> None:
        classes = len(dataset.classes)
        if self.initial_size < classes:
            raise SimulationError(
                f"--initial {self.initial_size} must be at least the number of classes ({classes})"
            )
        if self.budget <= self.initial_size:
            raise SimulationError(
                f"--budget {self.budget} must exceed the initial seed set ({self.initial_size})"
            )
        pool = int(len(dataset.labels) * (1 - self.test_share))
        if self.budget > pool:
            raise SimulationError(f"--budget {self.budget} exceeds the {pool} items available to label")
        if self.seeds < 1 or self.batch_size < 1:
            raise SimulationError("--seeds and --batch-size must be at least 1")


@dataclass(frozen=True)
class CurvePoint:
    strategy: str
    seed: int
    labels: int
    metric: float


Progress = Callable[[int], None]


def run_simulation(
    dataset: Dataset,
    policy: SelectionPolicy,
    config: SimulationConfig,
    *,
    progress: Progress | None = None,
) -> list[CurvePoint]:
    """Curves for the policy and the random baseline over ``config.seeds`` seeds."""
    config.check(dataset)
    from alstream.agents.selection.random_slice import in_random_slice
    from alstream.agents.selection.signals import signal_named

    signal = signal_named(policy.signal, **policy.signal_params)
    slice_mask = in_random_slice(
        dataset.item_ids.tolist(), fraction=policy.random_slice_fraction, salt=policy.random_slice_salt
    )
    points: list[CurvePoint] = []
    for seed in range(config.seeds):
        pool_idx, test_idx = train_test_split(
            np.arange(len(dataset.labels)),
            test_size=config.test_share,
            random_state=seed,
            stratify=dataset.labels,
        )
        initial = _stratified_seed(dataset.labels, pool_idx, config.initial_size, seed)
        for strategy in (policy.label, RANDOM):
            rng = np.random.default_rng([seed, 1 if strategy == RANDOM else 2])

            mix = (
                MixTally(quotas=config.quotas, day=config.labels_per_day)
                if config.quotas is not None
                else None
            )

            def choose(
                bundle: ModelBundle,
                pool: np.ndarray,
                count: int,
                *,
                _s: str = strategy,
                _rng: np.random.Generator = rng,
                _mix: MixTally | None = mix,
            ) -> tuple[np.ndarray, int]:
                if _s == RANDOM:
                    return _rng.choice(pool, size=count, replace=False), 0
                ranked, in_slice = _ranked_and_slice(dataset, bundle, pool, signal, slice_mask)
                if _mix is not None:
                    return _mix.batch(ranked, in_slice, count, _rng)
                return _policy_batch(ranked, in_slice, count, policy.random_slice_fraction, _rng), 0

            for labels, value in _one_run(dataset, config, seed, initial, pool_idx, test_idx, choose):
                points.append(CurvePoint(strategy, seed, labels, value))
                if progress:
                    progress(1)
    return points


def steps_per_run(config: SimulationConfig) -> int:
    """How many curve points one (strategy, seed) run produces, for progress bars."""
    return 1 + -(-(config.budget - config.initial_size) // config.batch_size)


def _one_run(
    dataset: Dataset,
    config: SimulationConfig,
    seed: int,
    initial: np.ndarray,
    pool_idx: np.ndarray,
    test_idx: np.ndarray,
    choose: Callable[[ModelBundle, np.ndarray, int], tuple[np.ndarray, int]],
) -> list[tuple[int, float]]:
    """Label until the budget is spent; QA gold answers spend budget without adding a training item."""
    labeled = list(initial)
    qa_spent = 0
    pool = np.setdiff1d(pool_idx, initial)
    curve = []
    while True:
        bundle = fit_committee(dataset.features[labeled], dataset.labels[labeled], random_state=seed)
        predicted = np.asarray(bundle.classes)[
            np.argmax(np.mean(member_probabilities(bundle, dataset.features[test_idx]), axis=0), axis=1)
        ]
        values = metric_values(dataset.labels[test_idx], predicted, classes=dataset.classes)
        spent = len(labeled) + qa_spent
        curve.append((spent, primary(values, config.metric)))
        room = config.budget - spent
        if room <= 0 or len(pool) == 0:
            return curve
        picked, qa = choose(bundle, pool, min(config.batch_size, room, len(pool)))
        picked = np.asarray(picked, dtype=int)
        if len(picked) == 0 and qa == 0:
            return curve  # nothing left that the rules allow
        labeled.extend(picked.tolist())
        qa_spent += qa
        pool = np.setdiff1d(pool, picked)


def _ranked_and_slice(
    dataset: Dataset, bundle: ModelBundle, pool: np.ndarray, signal: Any, slice_mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(non-slice pool items, best score first; slice items, never ranked)."""
    in_slice = pool[slice_mask[pool]]
    ranked = pool[~slice_mask[pool]]
    if len(ranked):
        features = dataset.features[ranked]
        committee = member_probabilities(bundle, features)
        scores = np.asarray(
            signal.score(
                probabilities=np.mean(committee, axis=0),
                committee=committee,
                embeddings=features,
            ),
            dtype=float,
        )
        ranked = ranked[np.lexsort((ranked, -scores))]  # highest score first; ties by index, deterministic
    return ranked, in_slice


def _policy_batch(
    ranked: np.ndarray, in_slice: np.ndarray, count: int, fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """The slice's share of the batch at random from the slice, the rest from the top of the ranking."""
    from_slice = min(len(in_slice), round(count * fraction))
    if len(ranked) < count - from_slice:
        from_slice = count - len(ranked)
    chosen = [rng.choice(in_slice, size=from_slice, replace=False)] if from_slice else []
    if count - from_slice:
        chosen.append(ranked[: count - from_slice])
    return np.concatenate(chosen) if chosen else np.empty(0, dtype=int)


@dataclass
class MixTally:
    """One simulated annotator under the router's own quota rules (:mod:`alstream.agents.router.mix`).

    Each label is one assignment; a simulated day is ``day`` labels. For every slot the router's
    ``preference`` order decides the source: HARD takes the next top-ranked item (when the daily cap
    and the minimum normal share allow), RANDOM a random slice item, NORMAL / FRESH a random unranked
    pick from outside the slice, QA a stable-gold answer that spends budget but teaches nothing new.
    """

    quotas: Any
    day: int
    history: list[str] = field(default_factory=list)

    def batch(
        self, ranked: np.ndarray, in_slice: np.ndarray, count: int, rng: np.random.Generator
    ) -> tuple[np.ndarray, int]:
        from alstream.agents.router.mix import MixCounts, preference
        from alstream.agents.router.pool import FRESH, HARD, NORMAL, QA
        from alstream.agents.router.pool import RANDOM as SLICE

        top = list(ranked.tolist())
        others = list(rng.permutation(ranked).tolist())
        slice_left = list(rng.permutation(in_slice).tolist())
        taken: set[int] = set()
        picked: list[int] = []
        qa = 0
        for _ in range(count):
            window = self.history[-self.day :]  # the rolling day, at one label per slot
            counts = MixCounts(
                total=len(window), hard=window.count(HARD), random=window.count(SLICE), qa=window.count(QA)
            )
            for source in preference(counts, self.quotas):
                item = None
                if source == QA:
                    qa += 1
                    break
                if source == HARD:
                    item = _next_free(top, taken)
                elif source == SLICE:
                    item = _next_free(slice_left, taken)
                elif source in (NORMAL, FRESH):
                    item = _next_free(others, taken)
                if item is not None:
                    taken.add(item)
                    picked.append(item)
                    break
            else:
                source = "NONE"
            self.history.append(source)
        return np.asarray(picked, dtype=int), qa


def _next_free(queue: list[int], taken: set[int]) -> int | None:
    while queue:
        item = queue.pop(0)
        if item not in taken:
            return item
    return None


def _stratified_seed(labels: np.ndarray, pool_idx: np.ndarray, size: int, seed: int) -> np.ndarray:
    """One item of every class, then random: both strategies start from this same labeled set."""
    rng = np.random.default_rng([seed, 0])
    firsts = [rng.choice(pool_idx[labels[pool_idx] == c]) for c in sorted(set(labels[pool_idx].tolist()))]
    rest = rng.choice(np.setdiff1d(pool_idx, firsts), size=size - len(firsts), replace=False)
    return np.sort(np.concatenate([np.asarray(firsts), rest]))
