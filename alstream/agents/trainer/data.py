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

from alstream.agents.release.builder import ITEMS_FILE, stream_items
from alstream.agents.release.exceptions import ReleaseError
from alstream.agents.release.service import synced_ledger
from alstream.agents.release.storage import ReleaseStore
from alstream.agents.trainer.online import LabelHistory, history_from_items
from alstream.contracts.labels import LabelRules
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
    """Training inputs from every label up to ``now``, as the next release would hold them."""
    cutoff = (now or datetime.now(UTC)).astimezone(UTC)
    cutoff = cutoff.replace(microsecond=cutoff.microsecond // 1000 * 1000)
    ids: list[str] = []
    vectors: list[np.ndarray] = []
    values: list[str] = []
    kinds: list[str] = []
    submitted: list[float] = []
    # The release agent's consumer group shows the release agent's progress, not the trainer's.
    ledger = synced_ledger(settings, commit=False)
    try:
        for item, _labels, raw in stream_items(
            ledger,
            cutoff=cutoff,
            rules=LabelRules.from_settings(settings),
            min_agreement=settings.release.min_agreement,
        ):
            if item.label is None or raw is None:
                continue
            ids.append(item.item_id)
            vectors.append(np.frombuffer(raw, dtype="<f4"))
            values.append(item.label)
            kinds.append(item.kind)
            submitted.append(item.first_submitted_at.timestamp())
    finally:
        ledger.close()
    if len({len(v) for v in vectors}) > 1:
        raise ReleaseError(f"labels so far mix embedding dimensions {sorted({len(v) for v in vectors})}")
    empty = np.empty(0, dtype=str)
    history = LabelHistory(
        item_ids=np.asarray(ids) if ids else empty,
        embeddings=np.stack(vectors).astype(np.float32) if vectors else np.empty((0, 0), np.float32),
        labels=np.asarray(values) if values else empty,
        kinds=np.asarray(kinds) if kinds else empty,
        submitted=np.asarray(submitted, dtype=np.float64),
    )
    return _inputs("labels so far", history)


def labels_so_far_part(settings: AlstreamSettings, *, now: datetime | None = None) -> Part:
    """Trainable rows of every label up to ``now`` (id, embedding, label)."""
    part: Part = labels_so_far_inputs(settings, now=now)["release"]
    return part
