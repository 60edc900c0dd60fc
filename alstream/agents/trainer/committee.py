"""The model the loop trains: a committee of the ML owner's allow-listed scikit-learn estimators.

``[trainer] committee`` names the members (:mod:`alstream.models.estimators` is the allow-list). The
scorer's uncertainty signals read the members' averaged probabilities and its disagreement signals
compare the members, so two *different* learners are the useful minimum. The simulator, the
benchmark and the trainer all fit through :func:`fit_committee`, so an offline result holds for the
model the agents train.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from alstream.agents.trainer.config import DEFAULT_COMMITTEE, Calibration, CommitteeMember
from alstream.agents.trainer.exceptions import TrainerError
from alstream.models.artifacts import ModelBundle
from alstream.models.estimators import EstimatorError, build_estimator, fit_member

#: rows of unlabeled reference embeddings a bundle carries for rank-fused policies
REFERENCE_ROWS = 1_000
#: a member's ``+suffix`` in a committee string -> its probability calibration
_CALIBRATIONS: dict[str, Calibration] = {"": "none", "sigmoid": "sigmoid", "isotonic": "isotonic"}


def parse_committee(text: str) -> tuple[CommitteeMember, ...]:
    """``"logistic_regression,random_forest+sigmoid"``: allow-listed names with default parameters.

    The short form the simulator's ``--model`` takes; a ``+sigmoid`` / ``+isotonic`` suffix asks for
    calibration. Parameters need the settings form (``[trainer] committee``).
    """
    members = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, _, suffix = part.partition("+")
        calibration = _CALIBRATIONS.get(suffix)
        if calibration is None:
            raise TrainerError(f"committee member {part!r}: calibration must be +sigmoid or +isotonic")
        try:
            build_estimator(name)
        except EstimatorError as exc:
            raise TrainerError(f"committee member {part!r}: {exc}") from None
        members.append(CommitteeMember(estimator=name, calibration=calibration))
    if not members:
        raise TrainerError(f"committee {text!r} names no estimator")
    return tuple(members)


def committee_label(members: Sequence[CommitteeMember]) -> str:
    return ",".join(member.label for member in members)


def fit_committee(
    embeddings: np.ndarray,
    labels: Sequence[str] | np.ndarray,
    *,
    members: Sequence[CommitteeMember] = DEFAULT_COMMITTEE,
    random_state: int = 0,
    metadata: dict[str, str] | None = None,
    reference: np.ndarray | None = None,
) -> ModelBundle:
    """Fit every member on the same data and wrap them as a :class:`ModelBundle`.

    The bundle's ``classes`` are the classes seen in training, in the estimators' order (the column
    order of their probabilities); ``class_counts`` feeds the scorer's cold-start rule;
    ``reference`` (unlabeled embeddings, at most :data:`REFERENCE_ROWS` kept) is what rank-fused
    policies rank against.
    """
    features = np.asarray(embeddings, dtype=np.float64)
    targets = np.asarray([str(label) for label in labels])
    if features.ndim != 2 or len(features) != len(targets):
        raise TrainerError(f"embeddings {features.shape} and {len(targets)} labels do not line up")
    seen, counts = np.unique(targets, return_counts=True)
    if len(seen) < 2:
        raise TrainerError(f"need labels of at least two classes to train, got {seen.tolist()}")
    fitted, notes = [], dict(metadata or {})
    for index, member in enumerate(members):
        try:
            estimator = build_estimator(member.estimator, member.params, random_state=random_state)
        except EstimatorError as exc:
            raise TrainerError(str(exc)) from None
        model, note = fit_member(estimator, features, targets, calibration=member.calibration)
        fitted.append(model)
        if note:
            notes[f"member_{index}"] = f"{member.label}: {note}"
    notes.setdefault("committee", committee_label(members))
    return ModelBundle(
        estimators=fitted,
        classes=[str(c) for c in fitted[0].classes_],
        embedding_dim=int(features.shape[1]),
        metadata=notes,
        class_counts={str(c): int(n) for c, n in zip(seen, counts, strict=True)},
        reference_embeddings=_reference_sample(reference),
    )


def _reference_sample(reference: np.ndarray | None) -> np.ndarray | None:
    """Up to REFERENCE_ROWS rows spread evenly over ``reference`` (deterministic), as float32."""
    if reference is None or len(reference) == 0:
        return None
    rows = np.asarray(reference, dtype=np.float32)
    if len(rows) > REFERENCE_ROWS:
        rows = rows[np.linspace(0, len(rows) - 1, REFERENCE_ROWS).astype(int)]
    return np.ascontiguousarray(rows)


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
