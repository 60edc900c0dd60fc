"""Where training data comes from: an announced release, or the labels so far (label batches).

Both go through the release code (compaction, validation, majority vote), so a model trained "on
label batches" sees exactly what the next release would hold. Each source gives ``train_once``'s
keyword arguments: the trainable rows (``release``) and the same rows with their assignment kinds and
submission times (``history``), which the online proof (:mod:`alstream.agents.trainer.online`) reads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from alstream.agents.release.builder import ITEMS_FILE, build_release
from alstream.agents.release.service import gather_inputs
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
    """Training inputs from an unstored, in-memory compaction of every label up to ``now``."""
    cutoff = now or datetime.now(UTC)
    built = build_release(
        gather_inputs(settings, cutoff=cutoff),
        cutoff=cutoff,
        classes=settings.task.classes,
        rules=LabelRules.from_settings(settings),
        min_agreement=settings.release.min_agreement,
    )
    return _inputs("labels so far", history_from_items(built.files[ITEMS_FILE]))


def labels_so_far_part(settings: AlstreamSettings, *, now: datetime | None = None) -> Part:
    """Trainable rows of every label up to ``now`` (id, embedding, label)."""
    part: Part = labels_so_far_inputs(settings, now=now)["release"]
    return part
