"""The replay: label in batches chosen by each policy (or at random), retrain, evaluate, repeat.

Every strategy of a seed starts from the same stratified seed set and is evaluated on the same
held-out test split, so their curves differ only by how items were chosen. A policy chooses through
the agents' own code: :meth:`Policy.build_signal` (one signal, or several fused on ranks against a
reference sample, as the scorer does with the bundle's reference embeddings), ``in_random_slice``
(slice items are never ranked; a batch takes the slice's share of them at random, as the router
mixes them in), the cold-start rule (:class:`ColdStartSpec`) and the window's diversity pick
(:func:`pick_diverse` over the top ``pool`` x N items). The committee (``--model``, default
``[trainer] committee``) and the metrics are the trainer's own. A ``failure_distance`` policy gets
a failure bank that grows the way the agreement agent grows the real one: labeled items the model
had predicted wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from alstream.agents.selection.diversity import pick_diverse
from alstream.agents.selection.failure_bank import FailureBank
from alstream.agents.selection.fusion import RankFusion
from alstream.agents.selection.policy import Policy, load_policy, policy_from_dict
from alstream.agents.selection.random_slice import in_random_slice
from alstream.agents.selection.signals import Signal
from alstream.agents.trainer.committee import REFERENCE_ROWS, fit_committee, member_probabilities
from alstream.agents.trainer.config import DEFAULT_COMMITTEE, CommitteeMember
from alstream.agents.trainer.evaluation import metric_values, primary
from alstream.models.artifacts import ModelBundle
from alstream.simulation.datasets import Dataset
from alstream.simulation.exceptions import SimulationError
from alstream.simulation.quotas_mix import MixTally

RANDOM = "random"


def strategy_label(policy: Policy) -> str:
    return f"policy {policy.version} ({policy.signal_name})"


def adhoc_policy(signal: str) -> Policy:
    """A policy for ``--signal NAME``: that signal, the default random slice, nothing else."""
    return policy_from_dict(
        {"version": "adhoc", "goal": f"try the {signal} signal", "signal": {"name": signal}},
        source="--signal",
    )


def load_selection_policy(path: str) -> Policy:
    """Load the policy file with the agents' loader (never a re-implementation)."""
    return load_policy(path)


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
    committee: tuple[CommitteeMember, ...] = DEFAULT_COMMITTEE

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
        if self.metric.startswith("recall:") and self.metric.removeprefix("recall:") not in dataset.classes:
            raise SimulationError(
                f"--metric {self.metric}: class not in the dataset ({', '.join(dataset.classes)})"
            )


@dataclass(frozen=True)
class CurvePoint:
    strategy: str
    seed: int
    labels: int
    metric: float


Progress = Callable[[int], None]
Chooser = Callable[[ModelBundle, np.ndarray, np.ndarray, int], tuple[np.ndarray, int]]


def run_simulation(
    dataset: Dataset,
    policies: Policy | Sequence[Policy],
    config: SimulationConfig,
    *,
    progress: Progress | None = None,
) -> list[CurvePoint]:
    """Curves for each policy and the random baseline over ``config.seeds`` seeds."""
    config.check(dataset)
    # Thousands of fits of small models: one BLAS thread each is several times faster than threads
    # that spin against each other (and against the other simulations of a benchmark) on a busy machine.
    with threadpool_limits(limits=1):
        return _simulate(dataset, policies, config, progress=progress)


def _simulate(
    dataset: Dataset,
    policies: Policy | Sequence[Policy],
    config: SimulationConfig,
    *,
    progress: Progress | None,
) -> list[CurvePoint]:
    chosen = [policies] if isinstance(policies, Policy) else list(policies)
    labels = [strategy_label(p) for p in chosen]
    if len(set(labels)) != len(labels):
        raise SimulationError(f"two policies share a version and signal: {labels}; bump a version")
    points: list[CurvePoint] = []
    for seed in range(config.seeds):
        split = _split(dataset, config, seed)
        for label, policy in [*zip(labels, chosen, strict=True), (RANDOM, None)]:
            rng = np.random.default_rng([seed, 1 if policy is None else 2])
            choose: Chooser
            if policy is None:
                choose = _random_chooser(rng)
            else:
                choose = _PolicyChooser(dataset=dataset, policy=policy, config=config, rng=rng)
            for spent, value in _one_run(dataset, config, seed, split, choose):
                points.append(CurvePoint(label, seed, spent, value))
                if progress:
                    progress(1)
    return points


def steps_per_run(config: SimulationConfig) -> int:
    """How many curve points one (strategy, seed) run produces, for progress bars."""
    return 1 + -(-(config.budget - config.initial_size) // config.batch_size)


@dataclass(frozen=True)
class _Split:
    pool: np.ndarray
    test: np.ndarray
    initial: np.ndarray
    reference: np.ndarray  # unlabeled pool rows a fused policy ranks against


def _split(dataset: Dataset, config: SimulationConfig, seed: int) -> _Split:
    everything = np.arange(len(dataset.labels))
    counts = np.unique(dataset.labels, return_counts=True)[1]
    stratify = dataset.labels if counts.min() >= 2 else None
    pool, test = train_test_split(
        everything, test_size=config.test_share, random_state=seed, stratify=stratify
    )
    rng = np.random.default_rng([seed, 3])
    reference = np.sort(rng.choice(pool, size=min(REFERENCE_ROWS, len(pool)), replace=False))
    return _Split(pool, test, _stratified_seed(dataset.labels, pool, config.initial_size, seed), reference)


def _one_run(
    dataset: Dataset, config: SimulationConfig, seed: int, split: _Split, choose: Chooser
) -> list[tuple[int, float]]:
    """Label until the budget is spent; QA gold answers spend budget without adding a training item."""
    labeled = list(split.initial)
    qa_spent = 0
    pool = np.setdiff1d(split.pool, split.initial)
    curve = []
    while True:
        bundle = fit_committee(
            dataset.features[labeled],
            dataset.labels[labeled],
            members=config.committee,
            random_state=seed,
            reference=dataset.features[split.reference],
        )
        consensus = np.mean(member_probabilities(bundle, dataset.features[split.test]), axis=0)
        predicted = np.asarray(bundle.classes)[np.argmax(consensus, axis=1)]
        values = metric_values(dataset.labels[split.test], predicted, classes=dataset.classes)
        spent = len(labeled) + qa_spent
        curve.append((spent, primary(values, config.metric)))
        room = config.budget - spent
        if room <= 0 or len(pool) == 0:
            return curve
        picked, qa = choose(bundle, pool, np.asarray(labeled), min(config.batch_size, room, len(pool)))
        picked = np.asarray(picked, dtype=int)
        if len(picked) == 0 and qa == 0:
            return curve  # nothing left that the rules allow
        labeled.extend(picked.tolist())
        qa_spent += qa
        pool = np.setdiff1d(pool, picked)


def _random_chooser(rng: np.random.Generator) -> Chooser:
    """Random labeling: ``count`` pool rows drawn uniformly, no cold-start rounds."""

    def choose(
        _bundle: ModelBundle, pool: np.ndarray, _labeled: np.ndarray, count: int
    ) -> tuple[np.ndarray, int]:
        return rng.choice(pool, size=count, replace=False), 0

    return choose


class _PolicyChooser:
    """One policy's choices in one run: cold start, slice share, signal ranking, diversity."""

    def __init__(
        self, *, dataset: Dataset, policy: Policy, config: SimulationConfig, rng: np.random.Generator
    ) -> None:
        self.dataset = dataset
        self.policy = policy
        self.rng = rng
        self.bank = FailureBank() if policy.uses_failure_bank else None
        extra: dict[str, Any] = {"bank": self.bank} if self.bank is not None else {}
        self.signal: Signal = policy.build_signal(**extra)
        self.slice_mask = in_random_slice(
            dataset.item_ids.tolist(), fraction=policy.random_slice_fraction, salt=policy.random_slice_salt
        )
        self.mix = MixTally(quotas=config.quotas, day=config.labels_per_day) if config.quotas else None

    def __call__(
        self, bundle: ModelBundle, pool: np.ndarray, labeled: np.ndarray, count: int
    ) -> tuple[np.ndarray, int]:
        policy, rng = self.policy, self.rng
        labeled_classes, counts = np.unique(self.dataset.labels[labeled], return_counts=True)
        class_counts = dict(zip(labeled_classes.tolist(), counts.tolist(), strict=True))
        if policy.cold_start.applies(class_counts, self.dataset.classes):
            return rng.choice(pool, size=count, replace=False), 0
        from_slice = round(count * policy.random_slice_fraction)
        ranked, in_slice = self._ranked_and_slice(bundle, pool, count - from_slice)
        if self.mix is not None:
            picked, qa = self.mix.batch(ranked, in_slice, count, rng)
        else:
            picked, qa = _policy_batch(ranked, in_slice, count, policy.random_slice_fraction, rng), 0
        self._grow_failure_bank(bundle, picked)
        return picked, qa

    def _ranked_and_slice(
        self, bundle: ModelBundle, pool: np.ndarray, top: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """(non-slice pool items, the window's picks first then best score first; slice items)."""
        in_slice = pool[self.slice_mask[pool]]
        ranked = pool[~self.slice_mask[pool]]
        if len(ranked) == 0:
            return ranked, in_slice
        features = self.dataset.features[ranked]
        ids = self.dataset.item_ids[ranked].tolist()
        if isinstance(self.signal, RankFusion) and bundle.reference_embeddings is not None:
            reference = np.asarray(bundle.reference_embeddings, dtype=np.float64)
            committee = member_probabilities(bundle, reference)
            self.signal.fit_reference(
                probabilities=np.mean(committee, axis=0), committee=committee, embeddings=reference
            )
        committee = member_probabilities(bundle, features)
        scores = np.asarray(
            self.signal.score(
                probabilities=np.mean(committee, axis=0),
                committee=committee,
                embeddings=features,
                item_ids=ids,
            ),
            dtype=float,
        )
        order = np.lexsort((ranked, -scores))  # highest score first; ties by index, deterministic
        diversity = self.policy.diversity
        if diversity.method != "none" and top > 0:
            considered = order[: max(top, int(np.ceil(diversity.pool * top)))]
            chosen = pick_diverse(
                scores[considered],
                features[considered],
                top,
                ids=[ids[i] for i in considered],
                method=diversity.method,
            )
            first = considered[chosen]
            order = np.concatenate([first, order[~np.isin(order, first)]])
        return ranked[order], in_slice

    def _grow_failure_bank(self, bundle: ModelBundle, picked: np.ndarray) -> None:
        if self.bank is None or len(picked) == 0:
            return
        features = self.dataset.features[picked]
        predicted = np.asarray(bundle.classes)[
            np.argmax(np.mean(member_probabilities(bundle, features), 0), 1)
        ]
        wrong = predicted != self.dataset.labels[picked]
        if wrong.any():
            self.bank.append(self.dataset.item_ids[picked][wrong].tolist(), features[wrong])


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


def _stratified_seed(labels: np.ndarray, pool_idx: np.ndarray, size: int, seed: int) -> np.ndarray:
    """One item of every class, then random: every strategy starts from this same labeled set."""
    rng = np.random.default_rng([seed, 0])
    firsts = [rng.choice(pool_idx[labels[pool_idx] == c]) for c in sorted(set(labels[pool_idx].tolist()))]
    rest = rng.choice(np.setdiff1d(pool_idx, firsts), size=size - len(firsts), replace=False)
    return np.sort(np.concatenate([np.asarray(firsts), rest]))
