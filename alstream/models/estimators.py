"""The allow-list of scikit-learn estimators a committee may hold, and how one member is built.

The ML owner names committee members in ``[trainer] committee`` (``alstream/agents/trainer/config.py``)
by the keys of :data:`ESTIMATORS`; nothing outside this table can be trained, saved or loaded. The
model store (:mod:`alstream.models.artifacts`) trusts only the types these estimators are made of, so
this module is the one place that list lives: add an estimator here and nowhere else.

Every estimator here has ``predict_proba`` (the scorer's signals read probabilities). A member may be
wrapped in :class:`~sklearn.calibration.CalibratedClassifierCV` (``calibration = "sigmoid"`` or
``"isotonic"``) when its probabilities are poorly calibrated (forests and naive Bayes are the usual
suspects); calibration needs two labels of every class to hold one out, so with fewer a fit skips it
and says so in the bundle's metadata.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sklearn.base import ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier

from alstream.exceptions import AlstreamError

Calibration = Literal["none", "sigmoid", "isotonic"]


class EstimatorError(AlstreamError):
    """A committee member names an estimator outside the allow-list or parameters it does not take."""


@dataclass(frozen=True)
class AllowedEstimator:
    """One allow-listed estimator: its class, the defaults alstream uses, and what it is good for."""

    cls: type[ClassifierMixin]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    summary: str = ""


#: name -> estimator. Defaults keep every fit single-threaded and seeded (same data, same model) and
#: fast enough to retrain in seconds at 10k labels on two cores.
ESTIMATORS: dict[str, AllowedEstimator] = {
    "logistic_regression": AllowedEstimator(
        LogisticRegression,
        {"C": 1.0, "max_iter": 1000},
        "linear; calibrated probabilities, cheap to score",
    ),
    "gaussian_nb": AllowedEstimator(
        GaussianNB, {"var_smoothing": 1e-2}, "naive Bayes; learns from very few labels, overconfident"
    ),
    "knn": AllowedEstimator(
        KNeighborsClassifier,
        {"n_neighbors": 10, "weights": "distance"},
        "k-nearest neighbours; any shape of class region, scoring cost grows with the labels",
    ),
    "random_forest": AllowedEstimator(
        RandomForestClassifier,
        {"n_estimators": 100, "n_jobs": 1},
        "random forest; non-linear, robust to label noise",
    ),
    "extra_trees": AllowedEstimator(
        ExtraTreesClassifier,
        {"n_estimators": 100, "n_jobs": 1},
        "extremely randomised trees; like a forest, faster to fit",
    ),
    "hist_gradient_boosting": AllowedEstimator(
        HistGradientBoostingClassifier,
        {"max_iter": 100, "early_stopping": False},
        "gradient boosting; strong on tabular features, needs more labels",
    ),
    "mlp": AllowedEstimator(
        MLPClassifier,
        {"hidden_layer_sizes": (64,), "solver": "lbfgs", "max_iter": 300, "alpha": 0.1},
        "small neural network; non-linear, cheap to score",
    ),
}

#: estimators whose constructor takes ``random_state``: the trainer seeds them
_SEEDED = {name for name, spec in ESTIMATORS.items() if "random_state" in spec.cls().get_params()}


def estimator_classes() -> tuple[type[ClassifierMixin], ...]:
    """Every class a committee member can be (the model store's allow-list is built from these)."""
    return (*(spec.cls for spec in ESTIMATORS.values()), CalibratedClassifierCV)


def build_estimator(
    name: str, params: Mapping[str, Any] | None = None, *, random_state: int | None = None
) -> ClassifierMixin:
    """An unfitted allow-listed estimator: alstream's defaults, overridden by ``params``.

    Unknown names and parameters (or values scikit-learn refuses) raise :class:`EstimatorError`
    naming the member, so a typo in ``[trainer] committee`` stops the trainer at start.
    """
    spec = ESTIMATORS.get(name)
    if spec is None:
        raise EstimatorError(
            f"estimator {name!r} is not on the allow-list: choose one of {', '.join(sorted(ESTIMATORS))}"
        )
    values = {**spec.defaults, **dict(params or {})}
    if random_state is not None and name in _SEEDED and "random_state" not in (params or {}):
        values["random_state"] = random_state
    if isinstance(values.get("hidden_layer_sizes"), list):  # TOML / JSON have no tuples
        values["hidden_layer_sizes"] = tuple(values["hidden_layer_sizes"])
    try:
        estimator = spec.cls(**values)
    except TypeError as exc:
        known = sorted(spec.cls().get_params())
        raise EstimatorError(f"estimator {name!r}: {exc}; its parameters are {', '.join(known)}") from None
    validate = getattr(estimator, "_validate_params", None)
    if validate is not None:
        try:
            validate()
        except (ValueError, TypeError) as exc:
            raise EstimatorError(f"estimator {name!r}: {exc}") from None
    return estimator


def fit_member(
    estimator: ClassifierMixin,
    features: np.ndarray,
    targets: np.ndarray,
    *,
    calibration: Calibration = "none",
) -> tuple[ClassifierMixin, str]:
    """Fit one member (calibrated if asked and possible); returns it and a note for the metadata."""
    model = clone(estimator)
    note = ""
    rows = len(targets)  # the fewest rows the estimator itself is fitted on
    if calibration != "none":
        smallest = int(np.unique(targets, return_counts=True)[1].min())
        if smallest >= 2:
            folds = min(3, smallest)
            rows = rows - -(-rows // folds)
            model = CalibratedClassifierCV(model, method=calibration, cv=folds)
        else:
            note = f"{calibration} calibration skipped: a class has one label"
    base = model.estimator if isinstance(model, CalibratedClassifierCV) else model
    if isinstance(base, KNeighborsClassifier) and base.n_neighbors > rows:
        # k neighbours need k labels: early in a loop there are fewer, so k shrinks until they exist
        base.set_params(n_neighbors=max(1, rows))
    with warnings.catch_warnings():
        # An iterative member that stops at max_iter is still a usable committee member; with a few
        # dozen labels it often does. Its warning must not fail a training run.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(features, targets)
    return model, note


@functools.cache
def skops_type_names() -> frozenset[str]:
    """The type names skops reports as untrusted in artifacts of allow-listed members (calibrated or not).

    skops trusts scikit-learn's estimators themselves by default; what it reports are their internals
    (tree structures, KD-trees, calibrators). Computed by fitting each estimator on a tiny dataset and
    asking skops, so it follows the installed scikit-learn: with :func:`estimator_classes` it is the
    exact set the model store needs to trust.
    """
    import skops.io as sio

    rng = np.random.default_rng(0)
    features = rng.normal(size=(24, 3))
    targets = np.array(["a", "b", "c"] * 8)
    names: set[str] = set()
    for name in ESTIMATORS:
        for calibration in ("none", "sigmoid"):
            fitted, _ = fit_member(
                build_estimator(name, random_state=0), features, targets, calibration=calibration
            )
            names.update(sio.get_untrusted_types(data=sio.dumps({"estimators": [fitted], "classes": ["a"]})))
    return frozenset(names)
