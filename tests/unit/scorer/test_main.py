"""Scorer wiring without a broker: which policy is used, bootstrap model, refusing bad announcements."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from alstream.agents.scorer.exceptions import ModelSwapError
from alstream.agents.scorer.main import ModelFollower, bootstrap_model, resolve_policy
from alstream.agents.selection.history import apply_policy
from alstream.agents.selection.policy import BASELINE_POLICY
from alstream.models.artifacts import ModelBundle, save_bundle
from alstream.settings import load_settings

CLASSES = ["a", "b"]


def settings_for(tmp_path: Path, **paths: Any):  # type: ignore[no-untyped-def]
    return load_settings(
        kafka={"topic_prefix": "t."},
        metrics={"port": 0},
        task={"classes": CLASSES},
        ingest={"embedding_dim": 3},
        paths={"state_dir": tmp_path / "state", **paths},
    )


def policy_file(tmp_path: Path, version: str) -> Path:
    path = tmp_path / f"{version}.toml"
    path.write_text(f'version = "{version}"\ngoal = "g"\n[signal]\nname = "margin"\n', encoding="utf-8")
    return path


def artifact(tmp_path: Path, dim: int = 3) -> tuple[Path, str]:
    x = np.random.default_rng(0).normal(size=(50, dim))
    y = np.where(x[:, 0] > 0, "a", "b")
    bundle = ModelBundle(
        estimators=[LogisticRegression().fit(x, y)],
        classes=CLASSES,
        embedding_dim=dim,
        metadata={"model_version": "boot-7"},
    )
    path = tmp_path / "state" / "models" / f"model-{dim}.skops"  # in the model store of settings_for
    return path, save_bundle(bundle, path)


def test_policy_resolution_order(tmp_path: Path) -> None:
    assert resolve_policy(settings_for(tmp_path)) == BASELINE_POLICY
    apply_policy(policy_file(tmp_path, "applied-1"), state_dir=tmp_path / "state")
    assert resolve_policy(settings_for(tmp_path)).version == "applied-1"
    pinned = policy_file(tmp_path, "pinned-1")
    assert resolve_policy(settings_for(tmp_path, policy_file=pinned)).version == "pinned-1"


def test_bootstrap_model_is_verified(tmp_path: Path) -> None:
    path, sha = artifact(tmp_path)
    s = load_settings(
        kafka={"topic_prefix": "t."},
        metrics={"port": 0},
        task={"classes": CLASSES},
        ingest={"embedding_dim": 3},
        scorer={"bootstrap_model": path, "bootstrap_model_sha256": sha},
    )
    model = bootstrap_model(s)
    assert model is not None and model.version == "boot-7"
    bad = load_settings(
        kafka={"topic_prefix": "t."},
        metrics={"port": 0},
        task={"classes": CLASSES},
        ingest={"embedding_dim": 3},
        scorer={"bootstrap_model": path, "bootstrap_model_sha256": "0" * 64},
    )
    with pytest.raises(ModelSwapError, match="SHA-256"):
        bootstrap_model(bad)
    unverified = load_settings(
        kafka={"topic_prefix": "t."},
        metrics={"port": 0},
        task={"classes": CLASSES},
        ingest={"embedding_dim": 3},
        scorer={"bootstrap_model": path},
    )
    with pytest.raises(ModelSwapError, match="ALSTREAM_SCORER__BOOTSTRAP_MODEL_SHA256"):
        bootstrap_model(unverified)


class FakeWatcher:
    def __init__(self, records: list[dict[str, Any] | None]) -> None:
        self.records = records

    def poll(self) -> dict[str, Any] | None:
        return self.records.pop(0) if self.records else None


def test_follower_refuses_bad_announcements_and_keeps_going(tmp_path: Path) -> None:
    good, sha = artifact(tmp_path)
    wrong_dim, wrong_sha = artifact(tmp_path, dim=5)
    records = [
        {
            "model_version": "m1",
            "artifact_uri": str(good),
            "artifact_sha256": "f" * 64,
            "validation_metric": 0.5,
        },
        {
            "model_version": "m2",
            "artifact_uri": str(wrong_dim),
            "artifact_sha256": wrong_sha,
            "validation_metric": 0.5,
        },
        {
            "model_version": "m3",
            "artifact_uri": f"file://{good}",
            "artifact_sha256": sha,
            "validation_metric": 0.8,
        },
        {"model_version": "m3", "artifact_uri": str(good), "artifact_sha256": sha, "validation_metric": 0.8},
    ]
    follower = ModelFollower(settings=settings_for(tmp_path), watcher=FakeWatcher(records))  # type: ignore[arg-type]
    assert follower() is None  # sha mismatch
    assert follower() is None  # wrong embedding dimension
    swapped = follower()
    assert swapped is not None and swapped.version == "m3"
    assert follower() is None  # same version again: no reload


def test_a_model_that_cannot_be_loaded_for_any_reason_is_refused_and_its_announcement_rejected(
    tmp_path: Path,
) -> None:
    import hashlib

    from alstream.agents.scorer.models import ModelWatcher
    from alstream.streams.codecs import SingleObjectCodec
    from alstream.streams.testing import InMemoryMessage
    from tests.support.records import model_announcement

    not_a_zip = tmp_path / "state" / "models" / "broken.skops"
    not_a_zip.parent.mkdir(parents=True, exist_ok=True)
    not_a_zip.write_bytes(b"not a zip archive")
    good, sha = artifact(tmp_path)
    codec = SingleObjectCodec("models")
    watcher = ModelWatcher(codec=codec, model_name="default")
    rejected: list[tuple[object, BaseException]] = []
    follower = ModelFollower(
        settings=settings_for(tmp_path), watcher=watcher, reject=lambda m, e: rejected.append((m, e))
    )
    broken = model_announcement(
        "broken",
        artifact_uri=str(not_a_zip),
        artifact_sha256=hashlib.sha256(not_a_zip.read_bytes()).hexdigest(),
        classes=CLASSES,
        embedding_dim=3,
    )
    message = InMemoryMessage("t.models", codec.encode(broken), b"default", 0, 4)
    watcher.observe(message)
    assert follower() is None  # refused, not raised
    ((rejected_message, error),) = rejected
    assert rejected_message is message and type(error).__name__ == "ArtifactError"
    assert "not a readable skops file" in str(error)
    watcher.observe(
        InMemoryMessage(
            "t.models",
            codec.encode(
                model_announcement(
                    "m9", artifact_uri=str(good), artifact_sha256=sha, classes=CLASSES, embedding_dim=3
                )
            ),
            b"default",
            0,
            5,
        )
    )
    swapped = follower()
    assert swapped is not None and swapped.version == "m9"  # the next good announcement still loads
    from alstream.streams.exceptions import DecodeError

    with pytest.raises(DecodeError):  # a record that does not decode: the side reader dead-letters it
        watcher.observe(InMemoryMessage("t.models", b"garbage", b"default", 0, 6))
