"""The trainer's bar is the model the scorer can serve: the newest announcement whose artifact loads.
A newer announcement with a forged or broken artifact (claiming any metric) is passed over, so it can
never make the gate refuse every later model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from alstream.agents.trainer import service
from alstream.agents.trainer.committee import fit_committee
from alstream.agents.trainer.evaluation import LabeledSet, evaluate, primary
from alstream.models.artifacts import save_bundle
from alstream.settings import load_settings
from tests.support.records import model_announcement

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _labeled(seed: int) -> LabeledSet:
    rng = np.random.default_rng(seed)
    labels = np.array(["cat", "dog"] * 20)
    embeddings = (rng.normal(size=(40, 4)) + (labels == "dog")[:, None] * 2).astype("f4")
    return LabeledSet(item_ids=np.array([f"v{k}" for k in range(40)]), embeddings=embeddings, labels=labels)


def test_a_newer_announcement_whose_artifact_does_not_load_is_not_the_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    validation = _labeled(1)
    bundle = fit_committee(validation.embeddings, validation.labels, random_state=0, metadata={})
    settings = load_settings(environ={}, config_file=None, paths={"state_dir": tmp_path})
    served = tmp_path / "models" / "served.skops"  # in the model store, where the scorer loads from
    sha = save_bundle(bundle, served)
    not_a_zip = tmp_path / "models" / "forged.skops"
    not_a_zip.write_bytes(b"not a zip")
    records = [
        model_announcement("m-served", artifact_uri=str(served), artifact_sha256=sha, created_at=T0),
        model_announcement(
            "m-forged",
            artifact_uri=str(not_a_zip),
            validation_metric=0.999,
            created_at=T0 + timedelta(hours=1),
        ),
        model_announcement(
            "m-elsewhere",
            artifact_uri="gopher://nowhere/m.skops",
            validation_metric=0.999,
            created_at=T0 + timedelta(hours=2),
        ),
    ]
    monkeypatch.setattr(
        "alstream.agents.release.sources.read_topic",
        lambda settings, topic, **_: SimpleNamespace(records=records if topic == "models" else []),
    )
    version, metric = service.current_metric(settings, validation)
    assert version == "m-served"
    assert metric == pytest.approx(primary(evaluate(bundle, validation), settings.trainer.metric))


def test_no_loadable_announcement_means_no_bar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    forged: list[dict[str, Any]] = [
        model_announcement("m-forged", artifact_uri=str(tmp_path / "missing.skops"), validation_metric=0.9)
    ]
    monkeypatch.setattr(
        "alstream.agents.release.sources.read_topic",
        lambda settings, topic, **_: SimpleNamespace(records=forged),
    )
    assert service.current_metric(load_settings(environ={}, config_file=None), _labeled(2)) == (None, None)
