"""Generated labeled datasets of shapes the bundled ones lack, reproducible from a fixed seed.

Each stands for a situation teams meet (the benchmark suite runs them all, ``bench/bench_value.py``):

* ``imbalanced``: a rare class (3% of items) whose recall is the goal;
* ``many_clusters``: twelve classes made of three separate clusters each, so no linear boundary fits;
* ``label_noise``: five classes where one label in five is wrong, as with tired annotators;
* ``high_dim``: 384-dimensional, unit-length, correlated embeddings like a text or image encoder's.

Nothing is downloaded: scikit-learn's ``make_classification`` draws them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.datasets import make_classification


@dataclass(frozen=True)
class Generated:
    features: np.ndarray
    labels: np.ndarray
    metric: str  # the goal this shape is about
    summary: str


def imbalanced() -> Generated:
    x, y = make_classification(
        n_samples=8000,
        n_features=20,
        n_informative=8,
        n_redundant=4,
        n_classes=3,
        n_clusters_per_class=2,
        weights=[0.72, 0.25, 0.03],
        class_sep=1.5,
        random_state=11,
    )
    names = np.array(["common", "other", "rare"])
    return Generated(x, names[y], "recall:rare", "3 classes, the rare one 3% of items")


def many_clusters() -> Generated:
    x, y = make_classification(
        n_samples=6000,
        n_features=32,
        n_informative=16,
        n_redundant=4,
        n_classes=12,
        n_clusters_per_class=3,
        class_sep=2.0,
        random_state=12,
    )
    return Generated(
        x, np.array([f"c{label:02d}" for label in y]), "macro_f1", "12 classes x 3 clusters each"
    )


def label_noise() -> Generated:
    x, y = make_classification(
        n_samples=4000,
        n_features=20,
        n_informative=10,
        n_redundant=4,
        n_classes=5,
        n_clusters_per_class=1,
        class_sep=1.5,
        flip_y=0.2,
        random_state=13,
    )
    return Generated(x, np.array([f"k{label}" for label in y]), "macro_f1", "5 classes, ~20% wrong labels")


def high_dim() -> Generated:
    x, y = make_classification(
        n_samples=4000,
        n_features=384,
        n_informative=24,
        n_redundant=96,
        n_classes=8,
        n_clusters_per_class=2,
        class_sep=1.5,
        random_state=14,
    )
    x = x / np.linalg.norm(x, axis=1, keepdims=True)  # encoders emit unit-length vectors
    return Generated(x, np.array([f"t{label}" for label in y]), "macro_f1", "8 classes, 384-dim unit vectors")


GENERATED = {
    "imbalanced": imbalanced,
    "many_clusters": many_clusters,
    "label_noise": label_noise,
    "high_dim": high_dim,
}
