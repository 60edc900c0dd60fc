"""Builds a release from labels, assignments and embeddings up to a cut-off: same inputs, same bytes.

Nothing here reads a clock or the broker: the cut-off is the release's ``created_at``, the inputs are
passed in, rows are sorted by id, Parquet is written with fixed options and JSON with sorted keys.
A release is cumulative (every valid label up to the cut-off); "added" means submitted after the
parent release's cut-off.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from alstream.agents.release.compaction import Compaction, compact
from alstream.agents.release.notes import render_notes
from alstream.agents.release.quality import krippendorff_alpha, percent_agreement, qa_error_rate
from alstream.agents.release.storage import MANIFEST, NOTES
from alstream.contracts.labels import LabelRules

FORMAT_VERSION = 1
ITEMS_FILE = "items.parquet"
LABELS_FILE = "labels.parquet"

ITEMS_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("label", pa.string()),
        ("needs_adjudication", pa.bool_()),
        ("adjudication_reason", pa.string()),
        ("n_labels", pa.int32()),
        ("majority_share", pa.float64()),
        ("votes", pa.string()),
        ("kind", pa.string()),
        ("policy_version", pa.string()),
        ("model_version", pa.string()),
        ("first_submitted_at", pa.timestamp("ms", tz="UTC")),
        ("last_submitted_at", pa.timestamp("ms", tz="UTC")),
        ("embedding", pa.list_(pa.float32())),
    ]
)
LABELS_SCHEMA = pa.schema(
    [
        ("label_id", pa.string()),
        ("item_id", pa.string()),
        ("annotator_id", pa.string()),
        ("value", pa.string()),
        ("kind", pa.string()),
        ("policy_version", pa.string()),
        ("model_version", pa.string()),
        ("submitted_at", pa.timestamp("ms", tz="UTC")),
        ("root_cause", pa.string()),
    ]
)


@dataclass(frozen=True)
class ModelSnapshot:
    """The serving model when the release was cut (from the models topic)."""

    model_version: str
    metric_name: str
    metric: float
    #: the trainer's online proof for this model (loop, random, served, advantage, training_labels,
    #: eval_labels), from its announcement's ``online:*`` metrics; None when it was not measured
    online: Mapping[str, float] | None = None


@dataclass
class ReleaseInputs:
    labels: Sequence[Mapping[str, Any]]
    assignments: Sequence[Mapping[str, Any]]
    embeddings: Mapping[str, bytes] = field(default_factory=dict)
    qa_gold: Mapping[str, str] = field(default_factory=dict)
    model: ModelSnapshot | None = None


@dataclass(frozen=True)
class BuiltRelease:
    release_id: str
    manifest: dict[str, Any]
    files: dict[str, bytes]


def iso(moment: datetime | None) -> str | None:
    """Millisecond UTC ISO-8601 with a Z: sortable as text, exact to the Avro timestamp-millis."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def release_id_for(cutoff: datetime, content_hash: str) -> str:
    return f"{cutoff.astimezone(UTC):%Y%m%dT%H%M%SZ}-{content_hash[:8]}"


def build_release(
    inputs: ReleaseInputs,
    *,
    cutoff: datetime,
    classes: Sequence[str] = (),
    rules: LabelRules | None = None,
    min_agreement: float = 0.67,
    parent: Mapping[str, Any] | None = None,
    uri_for: Any = None,
) -> BuiltRelease:
    """Compact, measure and serialise one release. ``uri_for(release_id)`` says where it will live.

    ``rules`` is the label contract (``LabelRules.from_settings``: the verdicts the labels agent and the
    dashboards use); without it, the contract with default settings and ``classes``."""
    cutoff = _truncate_ms(cutoff)
    in_range = [label for label in inputs.labels if label["submitted_at"] <= cutoff]
    compaction = compact(
        in_range, inputs.assignments, rules=rules, classes=classes, min_agreement=min_agreement
    )
    files = {
        ITEMS_FILE: _parquet_bytes(_items_table(compaction, inputs.embeddings)),
        LABELS_FILE: _parquet_bytes(_labels_table(compaction)),
    }
    file_hashes = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}
    content_hash = hashlib.sha256(
        "".join(f"{name}\0{digest}\n" for name, digest in file_hashes.items()).encode()
    ).hexdigest()
    release_id = release_id_for(cutoff, content_hash)
    manifest = _manifest(
        compaction,
        inputs,
        cutoff=cutoff,
        parent=parent,
        release_id=release_id,
        content_hash=content_hash,
        file_hashes=file_hashes,
        classes=classes,
        uri=uri_for(release_id) if uri_for else release_id,
    )
    files[MANIFEST] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    files[NOTES] = render_notes(manifest).encode()
    return BuiltRelease(release_id=release_id, manifest=manifest, files=files)


def _truncate_ms(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("the release cut-off must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=moment.microsecond // 1000 * 1000)


def _parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        compression_level=3,
        write_statistics=True,
        use_dictionary=True,
        row_group_size=1 << 20,
    )
    return sink.getvalue()


def _embedding(raw: bytes | None) -> list[float] | None:
    if raw is None:
        return None
    return np.frombuffer(raw, dtype="<f4").tolist()


def _items_table(compaction: Compaction, embeddings: Mapping[str, bytes]) -> pa.Table:
    rows = compaction.items
    return pa.Table.from_pydict(
        {
            "item_id": [r.item_id for r in rows],
            "label": [r.label for r in rows],
            "needs_adjudication": [r.needs_adjudication for r in rows],
            "adjudication_reason": [r.adjudication_reason for r in rows],
            "n_labels": [r.n_labels for r in rows],
            "majority_share": [r.majority_share for r in rows],
            "votes": [json.dumps(r.votes, sort_keys=True) for r in rows],
            "kind": [r.kind for r in rows],
            "policy_version": [r.policy_version for r in rows],
            "model_version": [r.model_version for r in rows],
            "first_submitted_at": [r.first_submitted_at for r in rows],
            "last_submitted_at": [r.last_submitted_at for r in rows],
            "embedding": [_embedding(embeddings.get(r.item_id)) for r in rows],
        },
        schema=ITEMS_SCHEMA,
    )


def _labels_table(compaction: Compaction) -> pa.Table:
    rows = compaction.labels
    return pa.Table.from_pydict(
        {
            "label_id": [r.label_id for r in rows],
            "item_id": [r.item_id for r in rows],
            "annotator_id": [r.annotator_id for r in rows],
            "value": [r.value for r in rows],
            "kind": [r.kind for r in rows],
            "policy_version": [r.policy_version for r in rows],
            "model_version": [r.model_version for r in rows],
            "submitted_at": [r.submitted_at for r in rows],
            "root_cause": [r.root_cause for r in rows],
        },
        schema=LABELS_SCHEMA,
    )


def _manifest(
    compaction: Compaction,
    inputs: ReleaseInputs,
    *,
    cutoff: datetime,
    parent: Mapping[str, Any] | None,
    release_id: str,
    content_hash: str,
    file_hashes: dict[str, str],
    classes: Sequence[str],
    uri: str,
) -> dict[str, Any]:
    parent_cut = parent["created_at"] if parent else None
    added = [v for v in compaction.labels if parent_cut is None or iso(v.submitted_at) > parent_cut]
    items = compaction.items
    agreement, overlapped = percent_agreement(compaction.labels)
    qa_rate, qa_checks = qa_error_rate(compaction.labels, inputs.qa_gold)
    counted = Counter(i.label for i in items if i.label is not None)
    model = inputs.model
    return {
        "format_version": FORMAT_VERSION,
        "release_id": release_id,
        "parent_release_id": parent["release_id"] if parent else None,
        "created_at": iso(cutoff),
        "uri": uri,
        "content_hash": content_hash,
        "files": file_hashes,
        "classes": list(classes),
        "policy_versions": sorted({v.policy_version for v in compaction.labels}),
        "model_versions": sorted({v.model_version for v in compaction.labels}),
        "labels_from": iso(min((v.submitted_at for v in added), default=None)),
        "labels_to": iso(max((v.submitted_at for v in added), default=None)),
        "item_count": len(items),
        "label_count": len(compaction.labels),
        "added_label_count": len(added),
        "new_item_count": sum(
            1 for i in items if parent_cut is None or iso(i.first_submitted_at) > parent_cut
        ),
        "trainable_item_count": sum(
            1 for i in items if i.label is not None and i.item_id in inputs.embeddings
        ),
        "counts_by_kind": dict(sorted(Counter(i.kind for i in items).items())),
        "label_counts_by_kind": dict(sorted(Counter(v.kind for v in compaction.labels).items())),
        "counts_by_class": dict(sorted(counted.items())),
        "adjudication": dict(
            sorted(Counter(i.adjudication_reason for i in items if i.needs_adjudication).items())
        ),
        "excluded_labels": dict(compaction.excluded),
        "root_causes": dict(sorted(Counter(v.root_cause for v in compaction.labels if v.root_cause).items())),
        "qa_error_rate": qa_rate,
        "qa_checks": qa_checks,
        "agreement": agreement,
        "overlapped_items": overlapped,
        "krippendorff_alpha": krippendorff_alpha(compaction.labels),
        "validation_metric": model.metric if model else None,
        "validation_metric_name": model.metric_name if model else None,
        "validation_model_version": model.model_version if model else None,
        "online_proof": dict(sorted(model.online.items())) if model and model.online else None,
    }


def announcement(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The releases-topic record (schemas/releases.avsc) for a manifest."""

    def when(text: str | None) -> datetime | None:
        return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))

    return {
        "release_id": manifest["release_id"],
        "parent_release_id": manifest["parent_release_id"],
        "uri": manifest["uri"],
        "content_hash": manifest["content_hash"],
        "policy_versions": list(manifest["policy_versions"]),
        "model_versions": list(manifest["model_versions"]),
        "labels_from": when(manifest["labels_from"]),
        "labels_to": when(manifest["labels_to"]),
        "item_count": int(manifest["item_count"]),
        "counts_by_kind": {k: int(v) for k, v in manifest["counts_by_kind"].items()},
        "counts_by_class": {k: int(v) for k, v in manifest["counts_by_class"].items()},
        "qa_error_rate": manifest["qa_error_rate"],
        "agreement": manifest["agreement"],
        "validation_metric": manifest["validation_metric"],
        "created_at": when(manifest["created_at"]),
    }
