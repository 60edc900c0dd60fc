"""Committee training, validation metrics and the gate that refuses worse models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alstream.agents.trainer import service
from alstream.agents.trainer.committee import fit_committee, member_probabilities
from alstream.agents.trainer.evaluation import LabeledSet, evaluate, load_npz, metric_values, primary
from alstream.agents.trainer.exceptions import TrainerError
from alstream.demo.dataset import prepare
from alstream.exceptions import ConfigError
from alstream.models.artifacts import load_bundle
from alstream.settings import load_settings


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo")
    prepare(directory, seed=7)
    return directory


def test_committee_has_two_different_members_with_aligned_classes(demo: Path) -> None:
    seed = load_npz(demo / "seed.npz")
    bundle = fit_committee(seed.embeddings, seed.labels)
    assert len({type(m).__name__ for m in bundle.estimators}) == 2
    assert bundle.classes == sorted(set(seed.labels.tolist()))
    assert bundle.embedding_dim == 64
    probs = member_probabilities(bundle, seed.embeddings[:5])
    assert all(p.shape == (5, len(bundle.classes)) for p in probs)


def test_one_class_cannot_train() -> None:
    with pytest.raises(TrainerError, match="two classes"):
        fit_committee(np.zeros((3, 2)), ["a", "a", "a"])


def test_metrics_include_rare_class_recall() -> None:
    values = metric_values(["a", "a", "b", "b"], ["a", "a", "b", "a"], classes=["a", "b"])
    assert values["accuracy"] == 0.75
    assert values["recall:b"] == 0.5 and values["recall:a"] == 1.0
    with pytest.raises(TrainerError, match="recall:c"):
        primary(values, "recall:c")


def test_npz_errors_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(TrainerError, match="VALIDATION_FILE"):
        load_npz(tmp_path / "missing.npz")
    np.savez(tmp_path / "bad.npz", item_ids=np.array(["x"]))
    with pytest.raises(TrainerError, match="embeddings"):
        load_npz(tmp_path / "bad.npz")


def test_bad_metric_setting_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALSTREAM_TRAINER__METRIC", "precision")
    with pytest.raises(ConfigError, match="ALSTREAM_TRAINER__METRIC"):
        load_settings()


def test_validation_items_are_never_trained_on() -> None:
    validation = LabeledSet(np.array(["v1"]), np.zeros((1, 2), np.float32), np.array(["a"]))
    data = service.assemble(
        [("release", np.array(["v1", "t1", "t2"]), np.ones((3, 2), np.float32), np.array(["a", "b", "a"]))],
        validation=validation,
    )
    assert data.item_ids.tolist() == ["t1", "t2"]
    assert data.sources["dropped_validation_items"] == 1


@pytest.fixture
def trainer_env(demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    monkeypatch.setenv("ALSTREAM_PATHS__STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ALSTREAM_TRAINER__VALIDATION_FILE", str(demo / "validation.npz"))
    monkeypatch.setenv("ALSTREAM_TRAINER__SEED_FILE", str(demo / "seed.npz"))
    published: list[dict] = []
    monkeypatch.setattr(service, "publish_model", lambda settings, record: published.append(record))
    return published


def test_first_model_is_saved_and_published(trainer_env: list[dict], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "current_metric", lambda settings, validation: (None, None))
    outcome = service.train_once(load_settings())
    assert outcome.published and trainer_env[0]["model_version"] == outcome.model_version
    record = trainer_env[0]
    bundle = load_bundle(record["artifact_uri"], expected_sha256=record["artifact_sha256"])
    validation = load_npz(load_settings().trainer.validation_file)
    assert evaluate(bundle, validation)["accuracy"] == pytest.approx(record["validation_metric"])
    assert 0.5 < record["validation_metric"] <= 1.0
    assert Path(record["artifact_uri"]).is_absolute()


def test_worse_model_is_refused_and_says_so(trainer_env: list[dict], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "current_metric", lambda settings, validation: ("m-current", 0.99))
    settings = load_settings()
    outcome = service.train_once(settings)
    assert not outcome.published and trainer_env == []
    assert "worse than the current model m-current" in outcome.reason
    refusals = (Path(settings.paths.state_dir) / "models" / "refusals.jsonl").read_text()
    assert "m-current" in refusals
    forced = service.train_once(settings, force=True)
    assert forced.published and len(trainer_env) == 1


def test_within_tolerance_is_published(trainer_env: list[dict], monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    monkeypatch.setattr(service, "current_metric", lambda s, v: (None, None))
    baseline = service.train_once(settings, publish=False).metric
    monkeypatch.setattr(service, "current_metric", lambda s, v: ("m-current", baseline + 0.005))
    assert service.train_once(settings).published


def test_record_says_how_many_human_labels_it_learned_from(
    trainer_env: list[dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "current_metric", lambda settings, validation: (None, None))
    rng = np.random.default_rng(0)
    part = (
        "release r1",
        np.array([f"x{i}" for i in range(30)]),
        rng.random((30, 64)).astype(np.float32),
        np.array([str(i % 10) for i in range(30)]),
    )
    service.train_once(load_settings(), release=part, release_id="r1")
    record = trainer_env[0]
    assert record["metrics"]["training_labels"] == 30.0
    assert record["metrics"]["training_items"] == 70.0  # + the 40-item seed set
    assert record["trained_on_release"] == "r1"
