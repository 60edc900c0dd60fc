"""What changed between two releases: manifest fields and item-level label changes."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq

from alstream.agents.release.builder import ITEMS_FILE
from alstream.agents.release.storage import ReleaseStore

COMPARED_FIELDS = (
    "created_at",
    "parent_release_id",
    "item_count",
    "label_count",
    "added_label_count",
    "trainable_item_count",
    "policy_versions",
    "model_versions",
    "labels_from",
    "labels_to",
    "qa_error_rate",
    "agreement",
    "krippendorff_alpha",
    "validation_metric",
    "counts_by_kind",
    "counts_by_class",
    "adjudication",
    "content_hash",
)


@dataclass(frozen=True)
class ReleaseDiff:
    old: dict[str, Any]
    new: dict[str, Any]
    added_items: list[str]
    removed_items: list[str]
    relabeled_items: list[tuple[str, str | None, str | None]]

    def changed_fields(self) -> list[tuple[str, Any, Any]]:
        return [
            (f, self.old.get(f), self.new.get(f))
            for f in COMPARED_FIELDS
            if self.old.get(f) != self.new.get(f)
        ]


def _labels(store: ReleaseStore, release_id: str) -> dict[str, str | None]:
    table = pq.read_table(io.BytesIO(store.read_bytes(release_id, ITEMS_FILE)), columns=["item_id", "label"])
    return dict(zip(table.column("item_id").to_pylist(), table.column("label").to_pylist(), strict=True))


def diff_releases(store: ReleaseStore, old_id: str, new_id: str) -> ReleaseDiff:
    old_labels, new_labels = _labels(store, old_id), _labels(store, new_id)
    return ReleaseDiff(
        old=store.manifest(old_id),
        new=store.manifest(new_id),
        added_items=sorted(set(new_labels) - set(old_labels)),
        removed_items=sorted(set(old_labels) - set(new_labels)),
        relabeled_items=sorted(
            (item, old_labels[item], new_labels[item])
            for item in set(old_labels) & set(new_labels)
            if old_labels[item] != new_labels[item]
        ),
    )
