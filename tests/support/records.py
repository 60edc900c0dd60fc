"""Factories for decoded records of every topic, shaped as ``schemas/*.avsc`` says.

One place builds a valid record; a test passes keyword overrides for what it is about. Times are
timezone-aware datetimes (what the codecs return for ``timestamp-millis`` fields).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
CLASSES = ["cat", "dog", "fox"]


def assignment(
    assignment_id: str = "a1",
    *,
    annotator_id: str = "ann",
    item_id: str = "it1",
    kind: str = "NORMAL",
    classes: list[str] | None = None,
    assigned_at: datetime = T0,
    lease_s: float = 3600.0,
    **overrides: Any,
) -> dict[str, Any]:
    record = {
        "assignment_id": assignment_id,
        "annotator_id": annotator_id,
        "item_id": item_id,
        "kind": kind,
        "classes": list(classes or CLASSES),
        "uri": None,
        "unit_of_work": "ITEM",
        "policy_version": "p1",
        "quota_version": "q1",
        "model_version": "m1",
        "overlap_group": None,
        "calibration_id": None,
        "assigned_at": assigned_at,
        "lease_expires_at": assigned_at + timedelta(seconds=lease_s),
    }
    record.update(overrides)
    return record


def label(
    label_id: str = "l1",
    *,
    of: dict[str, Any] | None = None,
    value: str | None = "cat",
    status: str = "LABELED",
    seconds: float = 12.0,
    submitted_at: datetime | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """A label answering ``of`` (an assignment record; a default one if None), submitted ``seconds``
    after it was started; ``submitted_at`` defaults to one minute after the assignment was made."""
    of = of or assignment()
    submitted = submitted_at or of["assigned_at"] + timedelta(minutes=1)
    record = {
        "label_id": label_id,
        "assignment_id": of["assignment_id"],
        "item_id": of["item_id"],
        "annotator_id": of["annotator_id"],
        "status": status,
        "value": value if status == "LABELED" else None,
        "root_cause": None,
        "started_at": submitted - timedelta(seconds=seconds),
        "submitted_at": submitted,
    }
    record.update(overrides)
    return record


def candidate(
    item_id: str = "it1",
    *,
    reason: str = "TOP_SCORE",
    score: float = 0.5,
    dim: int = 64,  # ingest.embedding_dim's default: the router refuses other sizes
    selected_at: datetime = T0,
    **overrides: Any,
) -> dict[str, Any]:
    record = {
        "item_id": item_id,
        "reason": reason,
        "score": score,
        "signal": "entropy",
        "policy_version": "p1",
        "model_version": "m1",
        "unit_of_work": "ITEM",
        "predicted_class": "cat",
        "confidence": 0.5,
        "embedding": np.arange(dim, dtype="<f4").tobytes(),
        "skills": [],
        "uri": f"mem://{item_id}",
        "window_start": selected_at,
        "selected_at": selected_at,
    }
    record.update(overrides)
    return record


def annotator_event(
    annotator_id: str = "ann",
    *,
    event_type: str = "READY",
    ready_for: int = 1,
    occurred_at: datetime = T0,
    **overrides: Any,
) -> dict[str, Any]:
    record = {
        "event_id": uuid.uuid4().hex,
        "annotator_id": annotator_id,
        "event_type": event_type,
        "ready_for": ready_for if event_type == "READY" else 0,
        "skills": [],
        "group": None,
        "occurred_at": occurred_at,
    }
    record.update(overrides)
    return record


def item(item_id: str = "it1", *, dim: int = 64, seed: int = 0, **overrides: Any) -> dict[str, Any]:
    """An item as the SDK's dict rows take it (``alstream.ingest``): embedding as a list of floats."""
    rng = np.random.default_rng(seed)
    record: dict[str, Any] = {
        "item_id": item_id,
        "embedding": rng.random(dim).astype(np.float32).tolist(),
        "event_time": int(T0.timestamp() * 1000),
    }
    record.update(overrides)
    return record


def release_announcement(
    release_id: str = "r1", *, uri: str | None = None, item_count: int = 10, **overrides: Any
) -> dict[str, Any]:
    """A releases-topic record announcing a stored release (``uri`` defaults to a local folder)."""
    record: dict[str, Any] = {
        "release_id": release_id,
        "parent_release_id": None,
        "uri": uri if uri is not None else f"/tmp/releases/{release_id}",
        "content_hash": f"hash-{release_id}",
        "policy_versions": ["p1"],
        "model_versions": ["m1"],
        "labels_from": T0,
        "labels_to": T0 + timedelta(days=7),
        "item_count": item_count,
        "counts_by_kind": {"NORMAL": item_count},
        "counts_by_class": {"cat": item_count},
        "qa_error_rate": None,
        "agreement": None,
        "validation_metric": None,
        "created_at": T0 + timedelta(days=7),
    }
    record.update(overrides)
    return record


def model_announcement(
    model_version: str = "m1",
    *,
    artifact_uri: str = "/tmp/model.skops",
    artifact_sha256: str = "",
    classes: list[str] | None = None,
    embedding_dim: int = 64,
    **overrides: Any,
) -> dict[str, Any]:
    """A models-topic record announcing a model artifact for the scorer."""
    record: dict[str, Any] = {
        "model_name": "default",
        "model_version": model_version,
        "artifact_uri": artifact_uri,
        "artifact_sha256": artifact_sha256,
        "classes": list(classes or CLASSES),
        "embedding_dim": embedding_dim,
        "trained_on_release": None,
        "validation_metric_name": "accuracy",
        "validation_metric": 0.9,
        "metrics": {},
        "created_at": T0,
    }
    record.update(overrides)
    return record


def calibration(
    calibration_id: str = "cal-1",
    *,
    item_ids: list[str] | None = None,
    annotator_ids: list[str] | None = None,
    detected_at: datetime = T0,
    **overrides: Any,
) -> dict[str, Any]:
    """A calibration event (a disagreement spike) naming ``item_ids`` as its tough examples."""
    items = item_ids if item_ids is not None else ["it1"]
    record = {
        "calibration_id": calibration_id,
        "window_start": detected_at - timedelta(hours=1),
        "window_end": detected_at,
        "disagreement_rate": 0.4,
        "baseline_rate": 0.1,
        "sample_size": 50,
        "krippendorff_alpha": None,
        "fleiss_kappa": None,
        "evidence": "test spike",
        "annotator_ids": list(annotator_ids or ["ann"]),
        "items": [
            {
                "item_id": item,
                "disagreement": 0.5,
                "label_counts": {"cat": 1, "dog": 1},
                "predicted_class": "cat",
            }
            for item in items
        ],
        "detected_at": detected_at,
    }
    record.update(overrides)
    return record


# Quotas under which any candidate can be assigned at once (no share, QA, overlap or hard-item rules
# holding work back): for tests about the plumbing rather than the quota rules.
PERMISSIVE_QUOTAS = (
    'version = "test-permissive"\nmax_hard_per_day = 1000\nmin_normal_share = 0.0\nrandom_share = 0.0\n'
    "qa_rate = 0.0\noverlap_fraction = 0.0\nmax_in_flight = 50\n"
)


def release_scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, bytes]]:
    """Labels, assignments and embeddings for six items, the release tests' shared fixture: clean
    singles, a unanimous overlap, a tie, a weak majority, and invalid labels of every kind the label
    contract refuses (the ``excluded`` counts the release tests assert come from this list)."""

    def made(
        aid: str, item_id: str, annotator_id: str, *, kind: str = "HARD", minutes: int = 0, **o: Any
    ) -> dict[str, Any]:
        at = T0 + timedelta(minutes=minutes)
        return assignment(aid, item_id=item_id, annotator_id=annotator_id, kind=kind, assigned_at=at, **o)

    def answer(
        lid: str, of: dict[str, Any], value: str | None, *, minutes: int = 5, **o: Any
    ) -> dict[str, Any]:
        return label(
            lid,
            of=of,
            value=value,
            seconds=30,
            submitted_at=of["assigned_at"] + timedelta(minutes=minutes),
            **o,
        )

    a = {
        "a1": made("a1", "i1", "ann1"),
        "a2": made("a2", "i2", "ann1", kind="RANDOM", minutes=1, policy_version="p2"),
        "a3": made("a3", "i3", "ann1", kind="NORMAL", minutes=2),
        "a3b": made("a3b", "i3", "ann2", kind="OVERLAP", minutes=3),
        "a4": made("a4", "i4", "ann1", minutes=4),
        "a4b": made("a4b", "i4", "ann2", kind="OVERLAP", minutes=5),
        "a5": made("a5", "i5", "ann1", minutes=6, model_version="m2"),
        "a5b": made("a5b", "i5", "ann2", kind="OVERLAP", minutes=7),
        "a5c": made("a5c", "i5", "ann3", kind="OVERLAP", minutes=8),
        "a6": made("a6", "i6", "ann1", kind="QA", minutes=9),
    }
    labels = [
        answer("l1", a["a1"], "cat"),
        answer("l2", a["a2"], "dog", root_cause="data_quality"),
        answer("l3", a["a3"], "fox"),
        answer("l3b", a["a3b"], "fox"),
        answer("l4", a["a4"], "cat"),
        answer("l4b", a["a4b"], "dog"),  # tie
        answer("l5", a["a5"], "cat"),
        answer("l5b", a["a5b"], "cat"),
        answer("l5c", a["a5c"], "dog"),  # 2/3
        answer("l6", a["a6"], "dog"),  # QA item, gold says cat
        answer("l1", a["a1"], "cat"),  # duplicate delivery
        answer("bad-class", a["a1"], "zebra"),
        answer("skipped", a["a2"], None, status="SKIPPED"),
        answer("wrong-annotator", a["a3"], "fox", annotator_id="intruder"),
        answer("no-assignment", a["a3"], "fox", assignment_id="nope"),
        answer("late", a["a4"], "cat", minutes=90),
        answer("bad-cause", a["a6"], "cat", root_cause="occlusion"),  # not in labels.root_causes
    ]
    rng = np.random.default_rng(0)
    embeddings = {f"i{n}": rng.random(4).astype("<f4").tobytes() for n in range(1, 7)}
    return labels, list(a.values()), embeddings
