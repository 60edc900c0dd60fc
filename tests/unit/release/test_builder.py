"""A release is reproducible to the byte and its manifest carries every field docs/releases.md lists."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from alstream.agents.release.builder import (
    ITEMS_FILE,
    ModelSnapshot,
    ReleaseInputs,
    announcement,
    build_release,
)
from alstream.agents.release.compare import diff_releases
from alstream.agents.release.exceptions import ReleaseNotFound
from alstream.agents.release.storage import MANIFEST, NOTES, ReleaseStore
from alstream.settings import load_settings
from alstream.streams.codecs import codec_for
from tests.support import records

CUTOFF = records.T0 + timedelta(days=1)
REQUIRED = {
    "release_id",
    "parent_release_id",
    "created_at",
    "policy_versions",
    "model_versions",
    "labels_from",
    "labels_to",
    "counts_by_kind",
    "counts_by_class",
    "qa_error_rate",
    "agreement",
    "validation_metric",
    "content_hash",
    "item_count",
    "adjudication",
    "excluded_labels",
    "uri",
}


def _inputs(reverse: bool = False) -> ReleaseInputs:
    labels, assignments, embeddings = records.release_scenario()
    if reverse:
        labels, assignments = labels[::-1], assignments[::-1]
    return ReleaseInputs(
        labels=labels,
        assignments=assignments,
        embeddings=embeddings,
        qa_gold={"i6": "cat"},
        model=ModelSnapshot("m1", "accuracy", 0.91),
    )


def test_same_inputs_in_any_order_give_the_same_bytes() -> None:
    first = build_release(_inputs(), cutoff=CUTOFF, classes=records.CLASSES)
    second = build_release(_inputs(reverse=True), cutoff=CUTOFF, classes=records.CLASSES)
    assert first.release_id == second.release_id
    assert first.files == second.files
    assert set(first.files) == {ITEMS_FILE, "labels.parquet", MANIFEST, NOTES}


def test_manifest_carries_every_field() -> None:
    manifest = build_release(_inputs(), cutoff=CUTOFF, classes=records.CLASSES).manifest
    assert set(manifest) >= REQUIRED
    assert manifest["policy_versions"] == ["p1", "p2"]
    assert manifest["model_versions"] == ["m1", "m2"]
    assert manifest["labels_from"] == "2026-11-20T09:05:00.000Z"
    assert manifest["labels_to"] == "2026-11-20T09:14:00.000Z"
    assert manifest["counts_by_kind"] == {"HARD": 3, "NORMAL": 1, "QA": 1, "RANDOM": 1}
    assert manifest["counts_by_class"] == {"cat": 2, "dog": 2, "fox": 1}
    assert manifest["qa_error_rate"] == 1.0
    assert manifest["validation_metric"] == 0.91
    assert manifest["adjudication"] == {"low_agreement": 1, "tie": 1}
    assert manifest["created_at"] == "2026-11-21T09:00:00.000Z"


def test_labels_after_the_cutoff_are_not_in_the_release() -> None:
    early = build_release(_inputs(), cutoff=records.T0 + timedelta(minutes=8), classes=records.CLASSES)
    assert early.manifest["label_count"] < 10
    assert early.manifest["content_hash"] != build_release(_inputs(), cutoff=CUTOFF).manifest["content_hash"]


def test_items_parquet_holds_embeddings_and_flags() -> None:
    built = build_release(_inputs(), cutoff=CUTOFF, classes=records.CLASSES)
    table = pq.read_table(io.BytesIO(built.files[ITEMS_FILE])).to_pylist()
    by_item = {row["item_id"]: row for row in table}
    assert by_item["i4"]["needs_adjudication"] and by_item["i4"]["label"] is None
    assert len(by_item["i1"]["embedding"]) == 4
    assert json.loads(by_item["i5"]["votes"]) == {"cat": 2, "dog": 1}


def test_notes_name_policy_model_and_date_range() -> None:
    notes = build_release(_inputs(), cutoff=CUTOFF).files[NOTES].decode()
    for text in ("p1, p2", "m1, m2", "2026-11-20T09:05:00.000Z", "QA error rate", "tie"):
        assert text in notes


def test_announcement_fits_the_releases_schema() -> None:
    manifest = build_release(_inputs(), cutoff=CUTOFF).manifest
    codec = codec_for("releases", load_settings())
    decoded = codec.decode(codec.encode(announcement(manifest)))
    assert decoded["release_id"] == manifest["release_id"]
    assert decoded["counts_by_kind"] == manifest["counts_by_kind"]
    assert decoded["created_at"].isoformat() == "2026-11-21T09:00:00+00:00"


def test_store_is_idempotent_and_child_records_parent(tmp_path: Path) -> None:
    store = ReleaseStore(root=tmp_path / "releases")
    first = build_release(_inputs(), cutoff=records.T0 + timedelta(minutes=8), uri_for=store.uri_of)
    store.write(first.release_id, first.files)
    store.write(first.release_id, first.files)  # second write of the same release is a no-op
    parent = store.latest_before("2026-11-21T09:00:00.000Z")
    assert parent is not None and parent["release_id"] == first.release_id
    second = build_release(_inputs(), cutoff=CUTOFF, parent=parent, uri_for=store.uri_of)
    store.write(second.release_id, second.files)
    assert second.manifest["parent_release_id"] == first.release_id
    assert second.manifest["labels_from"] > first.manifest["labels_to"]
    assert (
        second.manifest["added_label_count"] == second.manifest["label_count"] - first.manifest["label_count"]
    )
    assert [m["release_id"] for m in store.manifests()] == [first.release_id, second.release_id]
    assert store.resolve("latest") == second.release_id
    assert (tmp_path / "releases" / second.release_id / ITEMS_FILE).read_bytes() == second.files[ITEMS_FILE]
    change = diff_releases(store, first.release_id, second.release_id)
    assert change.added_items and not change.removed_items
    assert "item_count" in {name for name, _, _ in change.changed_fields()}
    with pytest.raises(ReleaseNotFound):
        store.resolve("nope")


def test_store_accepts_uris_as_object_stores_do(tmp_path: Path) -> None:
    store = ReleaseStore(root=f"file://{tmp_path}/bucket/releases")
    built = build_release(_inputs(), cutoff=CUTOFF, uri_for=store.uri_of)
    uri = store.write(built.release_id, built.files)
    assert uri == f"file://{tmp_path}/bucket/releases/{built.release_id}" == built.manifest["uri"]
    assert store.manifest(built.release_id)["content_hash"] == built.manifest["content_hash"]
    assert (tmp_path / "bucket" / "releases" / built.release_id / NOTES).read_bytes() == built.files[NOTES]
    assert not [p for p in (tmp_path / "bucket" / "releases").iterdir() if p.name.startswith(".staging")]


def test_bytes_do_not_depend_on_the_process(tmp_path: Path) -> None:
    """Two interpreters with different hash seeds (set / dict iteration orders) write the same bytes."""
    import hashlib
    import os
    import subprocess
    import sys

    script = (
        "import hashlib\n"
        "from datetime import timedelta\n"
        "from tests.support import records as r\n"
        "from alstream.agents.release.builder import ReleaseInputs, build_release\n"
        "labels, assignments, emb = r.release_scenario()\n"
        "built = build_release(ReleaseInputs(labels=labels, assignments=assignments, embeddings=emb),\n"
        "                      cutoff=r.T0 + timedelta(days=1), classes=r.CLASSES)\n"
        "print(hashlib.sha256(b''.join(built.files[k] for k in sorted(built.files))).hexdigest())\n"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script],
            cwd=Path(__file__).parents[3],  # the repository root, where ``tests.support`` imports from
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout.strip()
        for seed in ("1", "2")
    }
    labels, assignments, embeddings = records.release_scenario()
    here = build_release(
        ReleaseInputs(labels=labels, assignments=assignments, embeddings=embeddings),
        cutoff=CUTOFF,
        classes=records.CLASSES,
    )
    assert digests == {hashlib.sha256(b"".join(here.files[k] for k in sorted(here.files))).hexdigest()}
