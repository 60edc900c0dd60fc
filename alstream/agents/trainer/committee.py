"""The model the loop trains: a committee of two small, different scikit-learn models on embeddings.

Two *different* learners (a linear model and a naive-Bayes model) disagree where the data is truly
ambiguous, which is what the scorer's disagreement signal measures; their averaged probabilities feed
the uncertainty signals. Both are fast enough to retrain in seconds, so the simulator and the agent
run exactly the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB

from alstream.agents.trainer.exceptions import TrainerError
from alstream.models.artifacts import ModelBundle


def new_committee(*, random_state: int = 0) -> list[Any]:
    """Unfitted members, in a fixed order (the scorer averages them; order never matters for scores)."""
    return [
        LogisticRegression(max_iter=500, C=1.0, random_state=random_state),
        GaussianNB(var_smoothing=1e-2),
    ]


def fit_committee(
    embeddings: np.ndarray,
    labels: Sequence[str] | np.ndarray,
    *,
    random_state: int = 0,
    metadata: dict[str, str] | None = None,
) -> ModelBundle:
    """Fit every member on the same data and wrap them as a :class:`ModelBundle`.

    The bundle's ``classes`` are the classes seen in training, in the estimators' order, because
    that is the column order of their probabilities.
    """
    features = np.asarray(embeddings, dtype=np.float64)
    targets = np.asarray([str(label) for label in labels])
    if features.ndim != 2 or len(features) != len(targets):
        raise TrainerError(f"embeddings {features.shape} and {len(targets)} labels do not line up")
    seen = np.unique(targets)
    if len(seen) < 2:
        raise TrainerError(f"need labels of at least two classes to train, got {seen.tolist()}")
    members = new_committee(random_state=random_state)
    for member in members:
        member.fit(features, targets)
    return ModelBundle(
        estimators=members,
        classes=[str(c) for c in members[0].classes_],
        embedding_dim=int(features.shape[1]),
        metadata=dict(metadata or {}),
    )


def member_probabilities(bundle: ModelBundle, embeddings: np.ndarray) -> list[np.ndarray]:
    """Each member's class probabilities, columns in ``bundle.classes`` order."""
    features = np.asarray(embeddings, dtype=np.float64)
    return [np.asarray(member.predict_proba(features)) for member in bundle.estimators]


def mean_probabilities(bundle: ModelBundle, embeddings: np.ndarray) -> np.ndarray:
    """The committee's consensus: the average of its members' probabilities."""
    return np.mean(member_probabilities(bundle, embeddings), axis=0)


def predict(bundle: ModelBundle, embeddings: np.ndarray) -> np.ndarray:
    """Consensus prediction as class names."""
    classes = np.asarray(bundle.classes)
    return classes[np.argmax(mean_probabilities(bundle, embeddings), axis=1)]
