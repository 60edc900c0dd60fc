"""The estimator allow-list: every member builds, fits, saves and loads through the model store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alstream.agents.trainer.committee import fit_committee, member_probabilities
from alstream.agents.trainer.config import CommitteeMember, TrainerSettings
from alstream.models.artifacts import load_bundle, save_bundle
from alstream.models.estimators import ESTIMATORS, EstimatorError, build_estimator, skops_type_names


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
@pytest.mark.parametrize("calibration", ["none", "sigmoid", "isotonic"])
def test_every_allowed_member_round_trips_through_the_model_store(
    name: str, calibration: str, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4))
    y = np.array(["a", "b"])[(x[:, 0] > 0).astype(int)]
    members = (
        CommitteeMember(estimator="logistic_regression"),
        CommitteeMember(estimator=name, calibration=calibration),
    )
    bundle = fit_committee(x, y, members=members)
    loaded = load_bundle(tmp_path / "m.skops", expected_sha256=save_bundle(bundle, tmp_path / "m.skops"))
    assert loaded.class_counts == {"a": int((y == "a").sum()), "b": int((y == "b").sum())}
    for before, after in zip(member_probabilities(bundle, x), member_probabilities(loaded, x), strict=True):
        assert np.allclose(before, after)


def test_the_store_trusts_every_type_the_allow_list_needs() -> None:
    names = skops_type_names()
    assert {"sklearn.tree._tree.Tree", "sklearn.neighbors._kd_tree.KDTree"} <= names  # forests, k-NN
    assert any(n.startswith("sklearn.calibration.") for n in names)
    # only scikit-learn internals: never a builtins callable, an os function or another package's type
    assert all(n.startswith("sklearn.") for n in names), sorted(names)


def test_settings_refuse_what_is_not_on_the_list_and_say_why() -> None:
    with pytest.raises(ValueError, match="not on the allow-list"):
        TrainerSettings(committee=[{"estimator": "svc"}])
    with pytest.raises(ValueError, match="n_trees"):
        TrainerSettings(committee=[{"estimator": "random_forest", "params": {"n_trees": 5}}])
    with pytest.raises(ValueError, match="random_forest"):
        TrainerSettings(committee=[{"estimator": "random_forest", "params": {"n_estimators": -1}}])
    with pytest.raises(EstimatorError, match="allow-list"):
        build_estimator("pickle_anything")
    settings = TrainerSettings(committee=[{"estimator": "mlp", "params": {"hidden_layer_sizes": [32, 16]}}])
    assert build_estimator("mlp", settings.committee[0].params).hidden_layer_sizes == (32, 16)


def test_few_labels_shrink_knn_and_skip_calibration() -> None:
    x = np.arange(10, dtype=float).reshape(5, 2)
    y = ["a", "a", "a", "b", "b"]
    bundle = fit_committee(x, y, members=(CommitteeMember(estimator="knn"),))
    assert bundle.estimators[0].n_neighbors == 5  # 10 neighbours need 10 labels
    one = fit_committee(
        x,
        ["a", "a", "a", "a", "b"],
        members=(CommitteeMember(estimator="gaussian_nb", calibration="isotonic"),),
    )
    assert "calibration skipped" in one.metadata["member_0"]
