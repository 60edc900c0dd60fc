"""Where training data comes from: an announced release, or the labels so far (label batches).

Both go through the release code (the ledger, validation, majority vote), so a model trained "on
label batches" sees exactly what the next release would hold. The labels so far come from the release
ledger (:mod:`alstream.agents.release.ledger`): synced with what arrived since its last read, then
streamed in item order, so a retrain every N labels reads N labels' worth of topics, not all history.
Each source gives ``train_once``'s keyword arguments: the trainable rows (``release``) and the same
rows with their assignment kinds and submission times (``history``), which the online proof
(:mod:`alstream.agents.trainer.online`) reads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from alstream.agents.release.builder import ITEMS_FILE, iso
from alstream.agents.release.files import ITEMS_SCHEMA
from alstream.agents.release.rows import release_rows
from alstream.agents.release.service import scratch_dir, store_for, synced_ledger
from alstream.agents.release.storage import ReleaseStore
from alstream.agents.trainer.online import (
    HISTORY_COLUMNS,
    LabelHistory,
    history_from_items,
    history_from_table,
)
from alstream.contracts.labels import LabelRules
from alstream.contracts.times import to_ms
from alstream.settings import AlstreamSettings

Part = tuple[str, np.ndarray, np.ndarray, np.ndarray]


def _inputs(name: str, history: LabelHistory) -> dict[str, Any]:
    part: Part = (name, history.item_ids, history.embeddings, history.labels)
    return {"release": part, "history": history}


def release_inputs(uri: str, release_id: str) -> dict[str, Any]:
    """Training inputs from the release stored at ``uri`` (``<root>/<release_id>``)."""
    root = uri.rstrip("/").rsplit("/", 1)[0]
    history = history_from_items(ReleaseStore(root=root).read_bytes(release_id, ITEMS_FILE))
    return _inputs(f"release {release_id}", history)


def labels_so_far_inputs(settings: AlstreamSettings, *, now: datetime | None = None) -> dict[str, Any]:
    """Training inputs from every label up to ``now``, as the next release would hold them.

    The rows start from the newest release built from this ledger (the release agent's, when they
    share a state directory), so a retrain every N labels recomputes the items changed since that
    release, not all history."""
    cutoff = (now or datetime.now(UTC)).astimezone(UTC)
    cutoff = cutoff.replace(microsecond=cutoff.microsecond // 1000 * 1000)
    store = store_for(settings)
    # The release agent's consumer group shows the release agent's progress, not the trainer's.
    ledger = synced_ledger(settings, commit=False)
    tables = []
    try:
        with release_rows(
            ledger,
            cutoff_ms=to_ms(cutoff),
            rules=LabelRules.from_settings(settings),
            min_agreement=settings.release.min_agreement,
            parent=store.latest_before(iso(cutoff) or ""),
            parent_store=store,
            scratch_dir=scratch_dir(settings),
        ) as rows:
            for items, _labels in rows.batches:
                tables.append(items.select(list(HISTORY_COLUMNS)))
    finally:
        ledger.close()
    history = history_from_table(pa.concat_tables(tables) if tables else empty_items())
    return _inputs("labels so far", history)


def empty_items() -> pa.Table:
    return ITEMS_SCHEMA.empty_table().select(list(HISTORY_COLUMNS))


def labels_so_far_part(settings: AlstreamSettings, *, now: datetime | None = None) -> Part:
    """Trainable rows of every label up to ``now`` (id, embedding, label)."""
    part: Part = labels_so_far_inputs(settings, now=now)["release"]
    return part
