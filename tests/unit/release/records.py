"""Synthetic labels and assignments for release tests (decoded-record shape, tz-aware times)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
CLASSES = ["cat", "dog", "fox"]


def assignment(
    assignment_id: str,
    item_id: str,
    annotator: str,
    *,
    kind: str = "HARD",
    minutes: int = 0,
    policy: str = "p1",
    model: str = "m1",
) -> dict[str, Any]:
    return {
        "assignment_id": assignment_id,
        "annotator_id": annotator,
        "item_id": item_id,
        "kind": kind,
        "classes": CLASSES,
        "uri": None,
        "unit_of_work": "ITEM",
        "policy_version": policy,
        "quota_version": "q1",
        "model_version": model,
        "overlap_group": None,
        "calibration_id": None,
        "assigned_at": T0 + timedelta(minutes=minutes),
        "lease_expires_at": T0 + timedelta(minutes=minutes + 60),
    }


def label(
    label_id: str,
    a: dict[str, Any],
    value: str | None,
    *,
    minutes: int = 5,
    status: str = "LABELED",
    root_cause: str | None = None,
) -> dict[str, Any]:
    submitted = a["assigned_at"] + timedelta(minutes=minutes)
    return {
        "label_id": label_id,
        "assignment_id": a["assignment_id"],
        "item_id": a["item_id"],
        "annotator_id": a["annotator_id"],
        "status": status,
        "value": value,
        "root_cause": root_cause,
        "started_at": submitted - timedelta(seconds=30),
        "submitted_at": submitted,
    }


def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, bytes]]:
    """Six items: clean singles, a unanimous overlap, a tie, a weak majority, and invalid labels."""
    a = {
        "a1": assignment("a1", "i1", "ann1"),
        "a2": assignment("a2", "i2", "ann1", kind="RANDOM", minutes=1, policy="p2"),
        "a3": assignment("a3", "i3", "ann1", kind="NORMAL", minutes=2),
        "a3b": assignment("a3b", "i3", "ann2", kind="OVERLAP", minutes=3),
        "a4": assignment("a4", "i4", "ann1", minutes=4),
        "a4b": assignment("a4b", "i4", "ann2", kind="OVERLAP", minutes=5),
        "a5": assignment("a5", "i5", "ann1", minutes=6, model="m2"),
        "a5b": assignment("a5b", "i5", "ann2", kind="OVERLAP", minutes=7),
        "a5c": assignment("a5c", "i5", "ann3", kind="OVERLAP", minutes=8),
        "a6": assignment("a6", "i6", "ann1", kind="QA", minutes=9),
    }
    labels = [
        label("l1", a["a1"], "cat"),
        label("l2", a["a2"], "dog", root_cause="data_quality"),
        label("l3", a["a3"], "fox"),
        label("l3b", a["a3b"], "fox"),
        label("l4", a["a4"], "cat"),
        label("l4b", a["a4b"], "dog"),  # tie
        label("l5", a["a5"], "cat"),
        label("l5b", a["a5b"], "cat"),
        label("l5c", a["a5c"], "dog"),  # 2/3
        label("l6", a["a6"], "dog"),  # QA item, gold says cat
        label("l1", a["a1"], "cat"),  # duplicate delivery
        label("bad-class", a["a1"], "zebra"),
        label("skipped", a["a2"], None, status="SKIPPED"),
        {**label("wrong-annotator", a["a3"], "fox"), "annotator_id": "intruder"},
        {**label("no-assignment", a["a3"], "fox"), "assignment_id": "nope"},
        label("late", a["a4"], "cat", minutes=90),
        label("bad-cause", a["a6"], "cat", root_cause="occlusion"),  # not in labels.root_causes
    ]
    rng = np.random.default_rng(0)
    embeddings = {f"i{n}": rng.random(4).astype("<f4").tobytes() for n in range(1, 7)}
    return labels, list(a.values()), embeddings
