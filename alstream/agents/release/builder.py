"""Builds a release from labels, assignments and embeddings up to a cut-off: same inputs, same bytes.

Nothing here reads a clock or the broker: the cut-off is the release's ``created_at``, the inputs are
passed in, rows are sorted by id, Parquet is written with fixed options and JSON with sorted keys.
A release is cumulative (every valid label up to the cut-off); "added" means submitted after the
parent release's cut-off.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from alstream.agents.release.compaction import ConsolidatedItem, ValidLabel, consolidate, default_rules
from alstream.agents.release.ledger import Ledger, ledger_from_records
from alstream.agents.release.notes import render_notes
from alstream.agents.release.quality import overlap_agreement
from alstream.agents.release.spool import SpooledFiles
from alstream.agents.release.storage import MANIFEST, NOTES
from alstream.agents.release.verdicts import VerdictTable
from alstream.contracts.labels import LabelRules
from alstream.contracts.times import to_ms

FORMAT_VERSION = 1
ITEMS_FILE = "items.parquet"
LABELS_FILE = "labels.parquet"
ROW_GROUP_ROWS = 16_384  # rows per Parquet row group: what a build holds of each file at a time
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "write_statistics": True,
    "use_dictionary": True,
}

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
    files: Mapping[str, bytes]  # name -> bytes; a SpooledFiles on disk for built releases


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
    """Compact, measure and serialise one release from decoded records held in memory.

    The records go through an in-memory ledger and the same streaming build as the agent's, so a
    release from lists and one from the topics are the same bytes. ``rules`` is the label contract
    (``LabelRules.from_settings``); without it, the contract with default settings and ``classes``."""
    ledger = ledger_from_records(
        labels=inputs.labels,
        assignments=inputs.assignments,
        embeddings=inputs.embeddings,
        max_id_length=(rules or default_rules(classes)).max_id_length,
    )
    try:
        return build_from_ledger(
            ledger,
            cutoff=cutoff,
            classes=classes,
            rules=rules,
            min_agreement=min_agreement,
            parent=parent,
            uri_for=uri_for,
            qa_gold=inputs.qa_gold,
            model=inputs.model,
        )
    finally:
        ledger.close()


def build_from_ledger(
    ledger: Ledger,
    *,
    cutoff: datetime,
    classes: Sequence[str] = (),
    rules: LabelRules | None = None,
    min_agreement: float = 0.67,
    parent: Mapping[str, Any] | None = None,
    uri_for: Any = None,
    qa_gold: Mapping[str, str] | None = None,
    model: ModelSnapshot | None = None,
    spool_dir: str | None = None,
) -> BuiltRelease:
    """The release of every label in ``ledger`` submitted up to ``cutoff``, streamed in item order.

    Memory holds one item's labels, one row group of output and the overlapped items' votes (for
    agreement statistics), never the whole history: the label verdicts and the de-duplication run
    through SQLite temporary tables on disk, the Parquet files are written row group by row group into
    ``spool_dir`` (a temporary directory by default) and hashed from there."""
    cutoff = _truncate_ms(cutoff)
    spool = SpooledFiles(spool_dir)
    stats = _Stats(qa_gold=qa_gold or {}, parent_cut=parent["created_at"] if parent else None)
    stats.bind(spool)
    for release_item, labels in stream_items(
        ledger, cutoff=cutoff, rules=rules or default_rules(classes), min_agreement=min_agreement, stats=stats
    ):
        del release_item, labels
    files_written = stats.close()
    file_hashes = {name: spool.sha256(name) for name in sorted(files_written)}
    content_hash = hashlib.sha256(
        "".join(f"{name}\0{digest}\n" for name, digest in file_hashes.items()).encode()
    ).hexdigest()
    release_id = release_id_for(cutoff, content_hash)
    manifest = _manifest(
        stats,
        model,
        cutoff=cutoff,
        parent=parent,
        release_id=release_id,
        content_hash=content_hash,
        file_hashes=file_hashes,
        classes=classes,
        uri=uri_for(release_id) if uri_for else release_id,
    )
    spool.put(MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    spool.put(NOTES, render_notes(manifest).encode())
    return BuiltRelease(release_id=release_id, manifest=manifest, files=spool)


def stream_items(
    ledger: Ledger,
    *,
    cutoff: datetime,
    rules: LabelRules,
    min_agreement: float,
    stats: _Stats | None = None,
) -> Iterator[tuple[ConsolidatedItem, list[ValidLabel]]]:
    """Each consolidated item up to ``cutoff`` with its voting labels, in item order (what a release
    holds); ``stats`` (if given) also writes the rows and gathers the manifest's numbers."""
    cutoff_ms = to_ms(cutoff)
    verdicts = VerdictTable(ledger, rules=rules)
    verdicts.fill(cutoff_ms)
    if stats is not None:
        stats.excluded = verdicts.excluded
    group: list[ValidLabel] = []
    for label in verdicts.voting():
        if group and label.item_id != group[0].item_id:
            yield _finish(group, ledger, cutoff_ms, min_agreement, stats)
            group = []
        group.append(label)
    if group:
        yield _finish(group, ledger, cutoff_ms, min_agreement, stats)
    ledger.flush_decoded()
    verdicts.drop()


def _finish(
    group: list[ValidLabel], ledger: Ledger, cutoff_ms: int, min_agreement: float, stats: _Stats | None
) -> tuple[ConsolidatedItem, list[ValidLabel]]:
    (item,) = consolidate(group, min_agreement=min_agreement)
    if stats is not None:
        stats.add(item, group, usable_embedding(ledger.embedding(item.item_id, cutoff_ms)))
    return item, group


def _truncate_ms(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("the release cut-off must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=moment.microsecond // 1000 * 1000)


def usable_embedding(raw: bytes | None) -> bytes | None:
    """Little-endian float32s, or None (a candidate whose embedding is not whole floats trains nothing)."""
    return raw if raw and len(raw) % 4 == 0 else None


def _embedding_column(raws: Sequence[bytes | None]) -> pa.Array:
    """list<float32> straight from the stored bytes: no Python float per value."""
    lengths = np.fromiter(
        (0 if raw is None else len(raw) // 4 for raw in raws), dtype=np.int32, count=len(raws)
    )
    offsets = np.zeros(len(raws) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = np.frombuffer(b"".join(raw for raw in raws if raw is not None), dtype="<f4")
    return pa.ListArray.from_arrays(
        pa.array(offsets), pa.array(values, type=pa.float32()), mask=pa.array([raw is None for raw in raws])
    )


class _RowGroups:
    """Rows of one Parquet file (tuples in schema order), written a row group at a time."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.rows: list[tuple[Any, ...]] = []
        self.writer: pq.ParquetWriter | None = None

    def open(self, path: str) -> None:
        self.writer = pq.ParquetWriter(path, self.schema, **PARQUET_OPTIONS)

    def append(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row)
        if len(self.rows) >= ROW_GROUP_ROWS:
            self.flush()

    def flush(self) -> None:
        assert self.writer is not None
        if self.rows:
            columns = []
            for field_, values in zip(self.schema, zip(*self.rows, strict=True), strict=True):
                if field_.name == "embedding":
                    columns.append(_embedding_column(values))
                else:
                    columns.append(pa.array(values, type=field_.type))
            self.writer.write_table(pa.Table.from_arrays(columns, schema=self.schema))
        self.rows = []

    def close(self) -> None:
        self.flush()
        assert self.writer is not None
        self.writer.close()


@dataclass
class _Stats:
    """The manifest's numbers, gathered item by item as the rows are written."""

    qa_gold: Mapping[str, str]
    parent_cut: str | None
    items_file: _RowGroups = field(default_factory=lambda: _RowGroups(ITEMS_SCHEMA))
    labels_file: _RowGroups = field(default_factory=lambda: _RowGroups(LABELS_SCHEMA))
    excluded: dict[str, int] = field(default_factory=dict)
    item_count: int = 0
    label_count: int = 0
    added: int = 0
    added_from: datetime | None = None
    added_to: datetime | None = None
    new_items: int = 0
    trainable: int = 0
    counts_by_kind: Counter[str] = field(default_factory=Counter)
    label_counts_by_kind: Counter[str] = field(default_factory=Counter)
    counts_by_class: Counter[str] = field(default_factory=Counter)
    adjudication: Counter[str] = field(default_factory=Counter)
    root_causes: Counter[str] = field(default_factory=Counter)
    policy_versions: set[str] = field(default_factory=set)
    model_versions: set[str] = field(default_factory=set)
    values: set[str] = field(default_factory=set)
    overlapped: list[dict[str, str]] = field(default_factory=list)  # annotator -> value, 2+ annotators
    qa_checks: int = 0
    qa_wrong: int = 0

    def bind(self, spool: SpooledFiles) -> None:
        self.items_file.open(str(spool.new_path(ITEMS_FILE)))
        self.labels_file.open(str(spool.new_path(LABELS_FILE)))

    def _is_added(self, moment: datetime) -> bool:
        return self.parent_cut is None or (iso(moment) or "") > self.parent_cut

    def add(self, item: ConsolidatedItem, labels: Sequence[ValidLabel], embedding: bytes | None) -> None:
        self.item_count += 1
        self.new_items += self._is_added(item.first_submitted_at)
        self.trainable += item.label is not None and embedding is not None
        self.counts_by_kind[item.kind] += 1
        if item.label is not None:
            self.counts_by_class[item.label] += 1
        if item.needs_adjudication:
            self.adjudication[str(item.adjudication_reason)] += 1
        self.items_file.append(
            (
                item.item_id,
                item.label,
                item.needs_adjudication,
                item.adjudication_reason,
                item.n_labels,
                item.majority_share,
                json.dumps(item.votes, sort_keys=True),
                item.kind,
                item.policy_version,
                item.model_version,
                item.first_submitted_at,
                item.last_submitted_at,
                embedding,
            )
        )
        if len(labels) >= 2:
            self.overlapped.append({v.annotator_id: v.value for v in labels})
        for v in labels:
            self._add_label(v)

    def _add_label(self, v: ValidLabel) -> None:
        self.label_count += 1
        self.label_counts_by_kind[v.kind] += 1
        self.policy_versions.add(v.policy_version)
        self.model_versions.add(v.model_version)
        self.values.add(v.value)
        if v.root_cause:
            self.root_causes[v.root_cause] += 1
        if self._is_added(v.submitted_at):
            self.added += 1
            self.added_from = min(self.added_from or v.submitted_at, v.submitted_at)
            self.added_to = max(self.added_to or v.submitted_at, v.submitted_at)
        if v.item_id in self.qa_gold:
            self.qa_checks += 1
            self.qa_wrong += v.value != self.qa_gold[v.item_id]
        self.labels_file.append(
            (
                v.label_id,
                v.item_id,
                v.annotator_id,
                v.value,
                v.kind,
                v.policy_version,
                v.model_version,
                v.submitted_at,
                v.root_cause,
            )
        )

    def close(self) -> list[str]:
        self.items_file.close()
        self.labels_file.close()
        return [ITEMS_FILE, LABELS_FILE]


def _manifest(
    stats: _Stats,
    model: ModelSnapshot | None,
    *,
    cutoff: datetime,
    parent: Mapping[str, Any] | None,
    release_id: str,
    content_hash: str,
    file_hashes: dict[str, str],
    classes: Sequence[str],
    uri: str,
) -> dict[str, Any]:
    agreement, overlapped, alpha = overlap_agreement(stats.overlapped, stats.values)
    return {
        "format_version": FORMAT_VERSION,
        "release_id": release_id,
        "parent_release_id": parent["release_id"] if parent else None,
        "created_at": iso(cutoff),
        "uri": uri,
        "content_hash": content_hash,
        "files": file_hashes,
        "classes": list(classes),
        "policy_versions": sorted(stats.policy_versions),
        "model_versions": sorted(stats.model_versions),
        "labels_from": iso(stats.added_from),
        "labels_to": iso(stats.added_to),
        "item_count": stats.item_count,
        "label_count": stats.label_count,
        "added_label_count": stats.added,
        "new_item_count": stats.new_items,
        "trainable_item_count": stats.trainable,
        "counts_by_kind": dict(sorted(stats.counts_by_kind.items())),
        "label_counts_by_kind": dict(sorted(stats.label_counts_by_kind.items())),
        "counts_by_class": dict(sorted(stats.counts_by_class.items())),
        "adjudication": dict(sorted(stats.adjudication.items())),
        "excluded_labels": dict(stats.excluded),
        "root_causes": dict(sorted(stats.root_causes.items())),
        "qa_error_rate": stats.qa_wrong / stats.qa_checks if stats.qa_checks else None,
        "qa_checks": stats.qa_checks,
        "agreement": agreement,
        "overlapped_items": overlapped,
        "krippendorff_alpha": alpha,
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
