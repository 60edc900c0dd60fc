"""Releases built by the release agent's own builder from labeled items, for tests that read them.

``labeled_release`` turns (item id, embedding, label, assignment kind) rows into assignment and label
records (:mod:`tests.support.records`), one minute apart in row order, and compacts them with
:func:`alstream.agents.release.builder.build_release`: the bytes are what a real release holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import numpy as np

from alstream.agents.release.builder import BuiltRelease, ReleaseInputs, build_release
from tests.support.records import T0, assignment, label


def labeled_release(
    item_ids: Sequence[str],
    embeddings: np.ndarray,
    labels: Sequence[str | None],
    kinds: Sequence[str],
    *,
    classes: Sequence[str],
) -> BuiltRelease:
    """A release of these items; a ``None`` label is an item whose two annotators tied (no label)."""
    assignments, answers = [], []
    for n, (item_id, value, kind) in enumerate(zip(item_ids, labels, kinds, strict=True)):
        when = T0 + timedelta(minutes=n)
        votes = [value, value] if value is not None else [classes[0], classes[1]]
        for k, vote in enumerate(votes[: 1 if value is not None else 2]):
            made = assignment(
                f"a-{item_id}-{k}",
                annotator_id=f"ann-{k}",
                item_id=item_id,
                kind=kind,
                classes=list(classes),
                assigned_at=when,
            )
            assignments.append(made)
            answers.append(label(f"l-{item_id}-{k}", of=made, value=vote))
    vectors = {i: np.asarray(e, dtype="<f4").tobytes() for i, e in zip(item_ids, embeddings, strict=True)}
    return build_release(
        ReleaseInputs(labels=answers, assignments=assignments, embeddings=vectors),
        cutoff=T0 + timedelta(minutes=len(item_ids) + 5),
        classes=classes,
    )


def write_release(built: BuiltRelease, root: Path) -> Path:
    """Store the release's files under ``root/<release_id>`` as the local release store lays them out."""
    directory = root / built.release_id
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in built.files.items():
        (directory / name).write_bytes(data)
    return directory
