"""The model store refuses what could run code or come from elsewhere, before skops builds anything."""

from __future__ import annotations

import builtins
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from alstream.models.artifacts import (
    ArtifactError,
    ArtifactOutsideStore,
    ChecksumMismatch,
    MissingChecksum,
    ModelBundle,
    UntrustedArtifact,
    save_bundle,
    sha256_of,
)
from alstream.models.store import ModelStore

X = np.random.default_rng(0).normal(size=(30, 3))
Y = np.where(X[:, 0] > 0, "a", "b")


def payload(estimators: list[Any]) -> dict[str, Any]:
    return {"estimators": estimators, "classes": ["a", "b"], "embedding_dim": 3, "metadata": {}}


def dumped(store: ModelStore, name: str, content: Any) -> tuple[str, str]:
    path = store.root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(content, path)
    return str(path), sha256_of(path)


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(root=tmp_path / "state" / "models")


def test_a_genuine_bundle_loads(store: ModelStore) -> None:
    path = store.root / "m.skops"
    sha = save_bundle(ModelBundle([LogisticRegression().fit(X, Y)], ["a", "b"], 3), path)
    bundle = store.load(f"file://{path}", sha)
    assert np.allclose(bundle.estimators[0].predict_proba(X).sum(axis=1), 1.0)


@pytest.mark.parametrize(
    ("name", "content", "type_name"),
    [
        ("exec.skops", payload([builtins.exec]), "builtins.exec"),
        ("eval.skops", {"estimators": [], "hook": builtins.eval}, "builtins.eval"),
        ("system.skops", payload([os.system]), f"{os.system.__module__}.system"),
    ],
)
def test_callables_are_refused_by_name(store: ModelStore, name: str, content: Any, type_name: str) -> None:
    uri, sha = dumped(store, name, content)
    with pytest.raises(UntrustedArtifact, match=type_name.replace(".", r"\.")):
        store.load(uri, sha)


def test_a_type_from_an_unknown_module_is_refused_without_importing_it(
    store: ModelStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = tmp_path / "imported.marker"
    module_dir = tmp_path / "evil"
    module_dir.mkdir()
    (module_dir / "alstream_evil_payload.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\nclass Payload:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(module_dir))
    import alstream_evil_payload  # type: ignore[import-not-found]

    uri, sha = dumped(store, "unknown.skops", payload([alstream_evil_payload.Payload()]))
    marker.unlink()
    del sys.modules["alstream_evil_payload"]
    with pytest.raises(UntrustedArtifact, match=r"alstream_evil_payload\.Payload"):
        store.load(uri, sha)
    assert not marker.exists(), "the loader imported the unknown module"


def test_an_estimator_skops_trusts_but_the_allow_list_does_not_is_refused(store: ModelStore) -> None:
    uri, sha = dumped(store, "svc.skops", payload([DecisionTreeClassifier().fit(X, Y)]))
    with pytest.raises(UntrustedArtifact, match="DecisionTreeClassifier"):
        store.load(uri, sha)


@pytest.mark.parametrize("sha", [None, "", "abc", "F" * 64])
def test_a_missing_or_malformed_sha256_is_refused(store: ModelStore, sha: str | None) -> None:
    path = store.root / "m.skops"
    save_bundle(ModelBundle([LogisticRegression().fit(X, Y)], ["a", "b"], 3), path)
    with pytest.raises(MissingChecksum):
        store.load(str(path), sha)


def test_a_wrong_sha256_is_refused(store: ModelStore) -> None:
    path = store.root / "m.skops"
    save_bundle(ModelBundle([LogisticRegression().fit(X, Y)], ["a", "b"], 3), path)
    with pytest.raises(ChecksumMismatch):
        store.load(str(path), "0" * 64)


def test_artifacts_come_only_from_the_store(store: ModelStore, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.skops"
    sha = save_bundle(ModelBundle([LogisticRegression().fit(X, Y)], ["a", "b"], 3), outside)
    store.root.mkdir(parents=True, exist_ok=True)
    (store.root / "link.skops").symlink_to(outside)
    for uri in (
        str(outside),
        f"file://{outside}",
        f"{store.root}/../../elsewhere.skops",
        "../../elsewhere.skops",
        str(store.root / "link.skops"),
        f"file://attacker.example{outside}",
        "s3://bucket/model.skops",
        "https://attacker.example/model.skops",
    ):
        with pytest.raises(ArtifactOutsideStore):
            store.load(uri, sha)


def test_not_a_skops_file_is_a_clear_error(store: ModelStore) -> None:
    path = store.root / "junk.skops"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a zip at all")
    with pytest.raises(ArtifactError, match="not a readable skops file"):
        store.load(str(path), sha256_of(path))
