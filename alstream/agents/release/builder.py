"""Builds a release from the ledger up to a cut-off: same inputs, same bytes.

Nothing here reads a clock or the broker: the cut-off is the release's ``created_at``, the inputs are
passed in, rows are sorted by id, Parquet is written with fixed options and JSON with sorted keys.
A release is cumulative (every valid label up to the cut-off); "added" means submitted after the
parent release's cut-off.

A build starts from its parent when it can: if the ledger recorded what the parent was built from
(same rules, same agreement threshold) and the parent's files are intact, only the items whose rows
may have changed since are recomputed and the rest are the parent's rows (:mod:`.rows`). Otherwise
every item is recomputed. Both give the same bytes; ``release build --full`` (a fresh ledger) always
recomputes, which is how the tests prove it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from alstream.agents.release.compaction import default_rules
from alstream.agents.release.files import FORMAT_VERSION, ITEMS_FILE, LABELS_FILE
from alstream.agents.release.ledger import Ledger, ledger_from_records
from alstream.agents.release.notes import render_notes
from alstream.agents.release.quality import overlap_agreement
from alstream.agents.release.recompute import usable_embedding
from alstream.agents.release.rows import parse_iso, release_rows
from alstream.agents.release.spool import SpooledFiles
from alstream.agents.release.storage import MANIFEST, NOTES, ReleaseStore
from alstream.agents.release.verdicts import excluded_counts
from alstream.agents.release.writer import ReleaseNumbers, ReleaseWriter
from alstream.contracts.labels import LabelRules
from alstream.contracts.times import to_ms

__all__ = ["FORMAT_VERSION", "ITEMS_FILE", "LABELS_FILE", "usable_embedding"]


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
    #: the items whose rows this build computed from the ledger (all of them unless it started from a
    #: parent), and the parent whose other rows it kept
    recomputed_items: int = 0
    started_from: str | None = None


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
    parent_store: ReleaseStore | None = None,
) -> BuiltRelease:
    """The release of every label in ``ledger`` submitted up to ``cutoff``, streamed in item order.

    ``parent_store`` holds ``parent``'s files: given both, and a ledger that recorded the parent's
    build, only the items changed since are recomputed. Memory holds the changed items' rows, one row
    group of the parent and output, and the overlapped items' votes (for agreement statistics), never
    the whole history: verdicts and de-duplication are SQL on the ledger, and the Parquet files are
    written row group by row group into ``spool_dir`` (a temporary directory by default) and hashed
    from there."""
    cutoff = _truncate_ms(cutoff)
    cutoff_ms = to_ms(cutoff)
    spool = SpooledFiles(spool_dir)
    parent_cut = parse_iso(parent["created_at"]) if parent else None
    writer = ReleaseWriter(spool, ReleaseNumbers(parent_cut=parent_cut, qa_gold=qa_gold or {}))
    with release_rows(
        ledger,
        cutoff_ms=cutoff_ms,
        rules=rules or default_rules(classes),
        min_agreement=min_agreement,
        parent=parent,
        parent_store=parent_store,
        scratch_dir=spool_dir,
    ) as rows:
        for items, labels in rows.batches:
            writer.write(items, labels)
        excluded, voting = excluded_counts(ledger, cutoff_ms)
    files_written = writer.close()
    numbers = writer.numbers
    if voting > numbers.label_count:
        excluded["superseded"] = voting - numbers.label_count
    file_hashes = {name: spool.sha256(name) for name in sorted(files_written)}
    content_hash = hashlib.sha256(
        "".join(f"{name}\0{digest}\n" for name, digest in file_hashes.items()).encode()
    ).hexdigest()
    release_id = release_id_for(cutoff, content_hash)
    manifest = _manifest(
        numbers,
        model,
        excluded=dict(sorted(excluded.items())),
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
    ledger.record_build(release_id, cutoff_ms=cutoff_ms, state=rows.state, fingerprint=rows.fingerprint)
    return BuiltRelease(
        release_id=release_id,
        manifest=manifest,
        files=spool,
        recomputed_items=rows.recomputed_items,
        started_from=rows.started_from,
    )


def _truncate_ms(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("the release cut-off must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=moment.microsecond // 1000 * 1000)


def _manifest(
    stats: ReleaseNumbers,
    model: ModelSnapshot | None,
    *,
    excluded: dict[str, int],
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
        "excluded_labels": excluded,
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
        return None if text is None else parse_iso(text)

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
