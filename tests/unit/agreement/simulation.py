"""Synthetic overlapped labeling (assignments, candidates, labels) shared by the agreement tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

CLASSES = ["cat", "dog", "bird"]
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def assignment(
    aid: str, annotator: str, item: str, group: str | None, kind: str = "OVERLAP"
) -> dict[str, Any]:
    return {
        "assignment_id": aid,
        "annotator_id": annotator,
        "item_id": item,
        "kind": kind,
        "classes": CLASSES,
        "uri": None,
        "unit_of_work": "ITEM",
        "policy_version": "p1",
        "quota_version": "q1",
        "model_version": "m1",
        "overlap_group": group,
        "calibration_id": None,
        "assigned_at": T0,
        "lease_expires_at": T0 + timedelta(hours=1),
    }


def candidate(item: str, predicted: str, dim: int = 4) -> dict[str, Any]:
    return {
        "item_id": item,
        "reason": "TOP_SCORE",
        "score": 0.5,
        "signal": "entropy",
        "policy_version": "p1",
        "model_version": "m1",
        "unit_of_work": "ITEM",
        "predicted_class": predicted,
        "confidence": 0.9,
        "embedding": np.arange(dim, dtype="<f4").tobytes(),
        "skills": [],
        "uri": None,
        "window_start": T0,
        "selected_at": T0,
    }


def label(
    lid: str,
    aid: str,
    annotator: str,
    item: str,
    value: str | None,
    at: int,
    status: str = "LABELED",
    root_cause: str | None = None,
) -> dict[str, Any]:
    return {
        "label_id": lid,
        "assignment_id": aid,
        "item_id": item,
        "annotator_id": annotator,
        "status": status,
        "value": value,
        "root_cause": root_cause,
        "started_at": T0 + timedelta(seconds=at),
        "submitted_at": T0 + timedelta(seconds=at + 5),
    }


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
        out_candidates.append(candidate(item, truth))
        for annotator_index in rng.choice(annotators, size=k, replace=False):
            annotator = f"ann{annotator_index}"
            aid = f"a-{item}-{annotator}"
            out_assignments.append(assignment(aid, annotator, item, f"ovl-{item}"))
            acc = (
                drifter_accuracy
                if (drift_from is not None and i >= drift_from and annotator == "ann0")
                else accuracy
            )
            value = (
                truth if rng.random() < acc else CLASSES[(CLASSES.index(truth) + int(rng.integers(1, 3))) % 3]
            )
            out_labels.append(label(f"l-{aid}", aid, annotator, item, value, at=i * 2))
    return out_assignments, out_candidates, out_labels
