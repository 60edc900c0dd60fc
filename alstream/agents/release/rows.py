"""The rows a release at a cut-off holds, from the ledger: every item recomputed, or the parent
release's rows with only the items changed since recomputed (:mod:`.merge`).

The release build writes them; the trainer's label batches read them without writing a release. Both
start from the newest release built from this ledger when they can, so neither walks all history in
Python once a release exists.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from alstream.agents.release.files import FORMAT_VERSION, ITEMS_FILE, LABELS_FILE
from alstream.agents.release.ledger import BuildRecord, BuildState, Ledger, rules_fingerprint
from alstream.agents.release.merge import merged_batches
from alstream.agents.release.recompute import row_batches
from alstream.agents.release.storage import ReleaseStore
from alstream.agents.release.verdicts import voting_items
from alstream.contracts.labels import LabelRules
from alstream.contracts.times import to_ms

log = logging.getLogger(__name__)
# Bumped whenever the same ledger and settings would give other rows: a build then recomputes every
# item instead of starting from a parent built by the earlier code.
ROWS_VERSION = 3


@dataclass
class ReleaseRows:
    """(items, labels) Arrow tables in item order, and how they were made."""

    batches: Iterator[tuple[pa.Table, pa.Table]]
    recomputed_items: int
    started_from: str | None  # the parent whose other rows these are; None: every item recomputed
    state: BuildState  # how far the ledger went when they were read
    fingerprint: str  # the settings they were made under


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@contextmanager
def release_rows(
    ledger: Ledger,
    *,
    cutoff_ms: int,
    rules: LabelRules,
    min_agreement: float,
    parent: Mapping[str, Any] | None = None,
    parent_store: ReleaseStore | None = None,
    scratch_dir: str | Path | None = None,
) -> Iterator[ReleaseRows]:
    """The rows of the release at ``cutoff_ms``, started from ``parent`` (in ``parent_store``) if the
    ledger recorded its build under the same settings and its files match its manifest. The parent's
    files are copied into a directory under ``scratch_dir`` while the rows are read."""
    fingerprint = json.dumps([FORMAT_VERSION, ROWS_VERSION, rules_fingerprint(rules), min_agreement])
    ledger.decide(rules)
    state = ledger.state()
    scratch = Path(tempfile.mkdtemp(prefix="alstream-release-rows-", dir=scratch_dir))
    changed = ledger.temp_items()
    try:
        base = _parent_files(ledger, parent, parent_store, fingerprint, scratch)
        if base is None:
            voting_items(ledger, changed, cutoff_ms)
        else:
            ledger.add_changed_items(changed, since=base, cutoff_ms=cutoff_ms)
        (recomputed,) = ledger.db.execute(f"SELECT count(*) FROM {changed}").fetchone()
        batches = row_batches(ledger, changed, cutoff_ms=cutoff_ms, min_agreement=min_agreement)
        if base is not None:
            batches = merged_batches(
                parent_items=scratch / ITEMS_FILE,
                parent_labels=scratch / LABELS_FILE,
                changed=[row[0] for row in ledger.db.execute(f"SELECT item_id FROM {changed} ORDER BY 1")],
                recomputed=batches,
            )
        yield ReleaseRows(
            batches=batches,
            recomputed_items=int(recomputed),
            started_from=str(parent["release_id"]) if base is not None and parent else None,
            state=state,
            fingerprint=fingerprint,
        )
    finally:
        ledger.db.execute(f"DROP TABLE IF EXISTS {changed}")
        shutil.rmtree(scratch, ignore_errors=True)


def _parent_files(
    ledger: Ledger,
    parent: Mapping[str, Any] | None,
    store: ReleaseStore | None,
    fingerprint: str,
    scratch: Path,
) -> BuildRecord | None:
    """What the parent was built from, with its files copied into ``scratch`` and checked against its
    manifest, if rows can start from it."""
    if parent is None or store is None:
        return None
    record = ledger.build_record(parent["release_id"])
    if record is None or record.fingerprint != fingerprint:
        return None
    if record.cutoff_ms != to_ms(parse_iso(parent["created_at"])):
        return None
    hashes = parent.get("files") or {}
    for name in (ITEMS_FILE, LABELS_FILE):
        if name not in hashes or not store.copy_verified(
            parent["release_id"], name, scratch / name, sha256=hashes[name]
        ):
            log.warning(
                "release %s: %s does not match its manifest; every item is recomputed",
                parent["release_id"],
                name,
            )
            return None
    return record
