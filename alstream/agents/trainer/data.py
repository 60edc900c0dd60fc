"""Where training data comes from: an announced release, or the labels so far (label batches).

Both go through the release code (the ledger, validation, majority vote), so a model trained "on
label batches" sees exactly what the next release would hold. The labels so far come from the release
ledger (:mod:`alstream.agents.release.ledger`): synced with what arrived since its last read, then
streamed in item order, so a retrain every N labels reads N labels' worth of topics, not all history.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from alstream.agents.release.builder import stream_items, usable_embedding
from alstream.agents.release.exceptions import ReleaseError
from alstream.agents.release.service import synced_ledger, training_arrays
from alstream.agents.release.storage import ReleaseStore
from alstream.contracts.labels import LabelRules
from alstream.contracts.times import to_ms
from alstream.settings import AlstreamSettings

Part = tuple[str, np.ndarray, np.ndarray, np.ndarray]


def release_part(uri: str, release_id: str) -> Part:
    """Trainable rows of the release stored at ``uri`` (``<root>/<release_id>``)."""
    root = uri.rstrip("/").rsplit("/", 1)[0]
    ids, embeddings, labels = training_arrays(ReleaseStore(root=root), release_id)
    return (f"release {release_id}", ids, embeddings, labels)


def labels_so_far_part(settings: AlstreamSettings, *, now: datetime | None = None) -> Part:
    """Trainable rows (a consolidated label and an embedding) of every label up to ``now``, as the
    next release would hold them."""
    cutoff = (now or datetime.now(UTC)).astimezone(UTC)
    cutoff = cutoff.replace(microsecond=cutoff.microsecond // 1000 * 1000)
    ids: list[str] = []
    vectors: list[np.ndarray] = []
    values: list[str] = []
    # The release agent's consumer group shows the release agent's progress, not the trainer's.
    ledger = synced_ledger(settings, commit=False)
    try:
        cutoff_ms = to_ms(cutoff)
        for item, _labels in stream_items(
            ledger,
            cutoff=cutoff,
            rules=LabelRules.from_settings(settings),
            min_agreement=settings.release.min_agreement,
        ):
            if item.label is None:
                continue
            raw = usable_embedding(ledger.embedding(item.item_id, cutoff_ms))
            if raw is None:
                continue
            ids.append(item.item_id)
            vectors.append(np.frombuffer(raw, dtype="<f4"))
            values.append(item.label)
    finally:
        ledger.close()
    if not ids:
        return (
            "labels so far",
            np.empty(0, dtype=str),
            np.empty((0, 0), dtype=np.float32),
            np.empty(0, dtype=str),
        )
    if len({len(v) for v in vectors}) != 1:
        raise ReleaseError(f"labels so far mix embedding dimensions {sorted({len(v) for v in vectors})}")
    return ("labels so far", np.asarray(ids), np.stack(vectors).astype(np.float32), np.asarray(values))
