"""Where training data comes from: an announced release, or the labels so far (label batches).

Both go through the release code (compaction, validation, majority vote), so a model trained "on
label batches" sees exactly what the next release would hold.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from alstream.agents.release.builder import ITEMS_FILE, build_release
from alstream.agents.release.service import arrays_from_items, gather_inputs, training_arrays
from alstream.agents.release.storage import ReleaseStore
from alstream.contracts.labels import LabelRules
from alstream.settings import AlstreamSettings

Part = tuple[str, np.ndarray, np.ndarray, np.ndarray]


def release_part(uri: str, release_id: str) -> Part:
    """Trainable rows of the release stored at ``uri`` (``<root>/<release_id>``)."""
    root = uri.rstrip("/").rsplit("/", 1)[0]
    ids, embeddings, labels = training_arrays(ReleaseStore(root=root), release_id)
    return (f"release {release_id}", ids, embeddings, labels)


def labels_so_far_part(settings: AlstreamSettings, *, now: datetime | None = None) -> Part:
    """Trainable rows of an unstored, in-memory compaction of every label up to ``now``."""
    cutoff = now or datetime.now(UTC)
    built = build_release(
        gather_inputs(settings, cutoff=cutoff),
        cutoff=cutoff,
        classes=settings.task.classes,
        rules=LabelRules.from_settings(settings),
        min_agreement=settings.release.min_agreement,
    )
    ids, embeddings, labels = arrays_from_items(built.files[ITEMS_FILE], name="labels so far")
    return ("labels so far", ids, embeddings, labels)
