"""Synthetic overlapped labeling (assignments, candidates, labels) for the agreement agent's tests: k
annotators label each item, mostly right, one of them drifting from a given item on."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np

from tests.support import records

CLASSES = ["cat", "dog", "bird"]
T0 = records.T0


def overlapped_stream(
    *,
    seed: int,
    items: int,
    k: int = 3,
    annotators: int = 5,
    accuracy: float = 0.9,
    drift_from: int | None = None,
    drifter_accuracy: float = 0.1,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(assignments, candidates, labels); from item ``drift_from`` on, annotator ann0 drifts."""
    rng = np.random.default_rng(seed)
    out_assignments, out_candidates, out_labels = [], [], []
    for i in range(items):
        item = f"item{i}"
        truth = CLASSES[int(rng.integers(0, len(CLASSES)))]
        out_candidates.append(
            records.candidate(item, dim=4, predicted_class=truth, confidence=0.9, uri=None, selected_at=T0)
        )
        for annotator_index in rng.choice(annotators, size=k, replace=False):
            annotator = f"ann{annotator_index}"
            aid = f"a-{item}-{annotator}"
            assigned = records.assignment(
                aid,
                annotator_id=annotator,
                item_id=item,
                kind="OVERLAP",
                classes=CLASSES,
                overlap_group=f"ovl-{item}",
            )
            out_assignments.append(assigned)
            acc = (
                drifter_accuracy
                if (drift_from is not None and i >= drift_from and annotator == "ann0")
                else accuracy
            )
            value = (
                truth if rng.random() < acc else CLASSES[(CLASSES.index(truth) + int(rng.integers(1, 3))) % 3]
            )
            out_labels.append(label(f"l-{aid}", of=assigned, value=value, at=i * 2))
    return out_assignments, out_candidates, out_labels


def label(
    label_id: str, *, of: dict[str, Any], value: str | None, at: int, **overrides: Any
) -> dict[str, Any]:
    """A label answering ``of``, started ``at`` seconds into the stream and submitted 5 s later."""
    submitted = T0 + timedelta(seconds=at + 5)
    return records.label(label_id, of=of, value=value, seconds=5, submitted_at=submitted, **overrides)
