"""The online proof: loop against random on held-out random-slice labels, on streams with known answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alstream.agents.release.notes import render_notes
from alstream.agents.trainer import online, service
from alstream.agents.trainer.config import DEFAULT_COMMITTEE
from alstream.agents.trainer.metrics import ONLINE_ADVANTAGE, ONLINE_METRIC
from alstream.agents.trainer.online import LabelHistory, held_out_mask, history_from_items, measure
from alstream.settings import load_settings
from tests.support.releases import labeled_release

CLASSES = ["a", "b", "c", "d"]
DIM = 8
CENTRES = np.random.default_rng(42).normal(scale=4.0, size=(4, DIM))


def _points(classes: list[int], rng: np.random.Generator) -> np.ndarray:
    return CENTRES[classes] + rng.normal(scale=0.6, size=(len(classes), DIM))


def _ids_on_side(prefix: str, count: int, *, held: bool) -> list[str]:
    """Ids of random-slice items that the fixed hash puts on the held-out side (or not)."""
    out, n = [], 0
    while len(out) < count:
        candidate = f"{prefix}-{n:05d}"
        if bool(held_out_mask([candidate], ["RANDOM"], 0.5)[0]) == held:
            out.append(candidate)
        n += 1
    return out


def _stream(*, random_classes: list[int], loop_classes: list[int], seed: int = 0) -> LabelHistory:
    """80 held-out random-slice labels cover every class; the arms learn from the classes given.

    Submission order: the loop's labels, then the random-slice labels the random arm trains on, then
    the held-out ones; so the loop arm (the first K labels) holds only loop labels.
    """
    rng = np.random.default_rng(seed)
    evaluation = [i % 4 for i in range(80)]
    loop_ids = [f"loop-{n:05d}" for n in range(len(loop_classes))]
    train_ids = _ids_on_side("slice-train", len(random_classes), held=False)
    eval_ids = _ids_on_side("slice-eval", len(evaluation), held=True)
    ids = loop_ids + train_ids + eval_ids
    classes = loop_classes + random_classes + evaluation
    kinds = ["HARD"] * len(loop_ids) + ["RANDOM"] * (len(train_ids) + len(eval_ids))
    built = labeled_release(ids, _points(classes, rng), [CLASSES[c] for c in classes], kinds, classes=CLASSES)
    return history_from_items(built.files["items.parquet"])


def _measure(history: LabelHistory) -> online.OnlineProof:
    from alstream.agents.trainer.committee import fit_committee

    served = fit_committee(history.embeddings, history.labels)
    proof, note = measure(
        history,
        served=served,
        seed=None,
        committee=DEFAULT_COMMITTEE,
        metric="macro_f1",
        held_out_share=0.5,
        min_eval_labels=30,
    )
    assert proof is not None, note
    return proof


def test_held_out_labels_are_a_fixed_half_of_the_random_slice() -> None:
    ids = [f"it-{n}" for n in range(4000)]
    mask = held_out_mask(ids, ["RANDOM"] * 4000, 0.5)
    assert 0.45 < mask.mean() < 0.55
    assert not held_out_mask(ids, ["HARD"] * 4000, 0.5).any()  # only random-slice labels are held out
    assert (held_out_mask(ids, ["RANDOM"] * 4000, 0.5) == mask).all()  # the same items every time


def test_a_loop_that_covers_the_classes_beats_random_labels_stuck_in_two() -> None:
    proof = _measure(_stream(random_classes=[0, 1] * 12, loop_classes=[0, 1, 2, 3] * 10))
    assert proof.training_labels == 24 and proof.eval_labels == 80
    assert proof.loop > 0.9 and proof.random < 0.6
    assert proof.advantage > 0.3


def test_a_loop_stuck_in_one_region_loses_to_random_labels() -> None:
    """The guide's feedback-loop trap: the loop keeps labeling one region; the random slice catches it."""
    proof = _measure(_stream(random_classes=[0, 1, 2, 3] * 6, loop_classes=[0] * 20 + [1] * 20))
    assert proof.random > 0.9 and proof.loop < 0.6
    assert proof.advantage < -0.3


def test_too_few_held_out_labels_is_not_a_measurement() -> None:
    history = _stream(random_classes=[0, 1] * 12, loop_classes=[0, 1, 2, 3] * 10)
    from alstream.agents.trainer.committee import fit_committee

    proof, note = measure(
        history,
        served=fit_committee(history.embeddings, history.labels),
        seed=None,
        committee=DEFAULT_COMMITTEE,
        metric="macro_f1",
        held_out_share=0.5,
        min_eval_labels=500,
    )
    assert proof is None and "fewer than 500" in note


@pytest.fixture
def trainer_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    rng = np.random.default_rng(9)
    classes = [i % 4 for i in range(80)]
    np.savez(
        tmp_path / "validation.npz",
        item_ids=np.array([f"val-{n}" for n in range(80)]),
        embeddings=_points(classes, rng).astype("<f4"),
        labels=np.array([CLASSES[c] for c in classes]),
    )
    monkeypatch.setattr(service, "publish_model", lambda settings, record: None)  # no broker in unit tests
    monkeypatch.setattr(service, "current_metric", lambda settings, validation: (None, None))
    return load_settings(
        task={"classes": CLASSES},
        metrics={"port": 0},
        paths={"state_dir": tmp_path / "state"},
        trainer={"validation_file": tmp_path / "validation.npz", "metric": "macro_f1"},
    )


def test_a_training_run_never_trains_on_held_out_labels_and_reports_the_proof(trainer_settings: Any) -> None:
    history = _stream(random_classes=[0, 1] * 12, loop_classes=[0, 1, 2, 3] * 10)
    part = ("release r1", history.item_ids, history.embeddings, history.labels)
    outcome = service.train_once(trainer_settings, release=part, history=history, release_id="r1")
    assert outcome.published and outcome.proof is not None
    held = set(history.item_ids[held_out_mask(history.item_ids, history.kinds, 0.5)].tolist())
    assert len(held) == 80
    assert int(outcome.record["metrics"]["training_items"]) == len(history) - 80  # type: ignore[index]
    metrics = outcome.record["metrics"]  # type: ignore[index]
    assert metrics["online:advantage"] == pytest.approx(outcome.proof.advantage)
    assert metrics["online:eval_labels"] == 80
    assert ONLINE_METRIC.labels("loop")._value.get() == pytest.approx(outcome.proof.loop)
    assert ONLINE_ADVANTAGE._value.get() == pytest.approx(outcome.proof.advantage)
    directory = Path(trainer_settings.paths.state_dir) / "models" / "default"
    assert [p.release_id for p in online.read_history(directory)] == ["r1"]

    ONLINE_ADVANTAGE.set(0)  # a restarted trainer re-exports the latest proof from its file
    assert online.restore(directory) == outcome.proof
    assert ONLINE_ADVANTAGE._value.get() == pytest.approx(outcome.proof.advantage)


def test_release_notes_show_loop_against_random() -> None:
    manifest: dict[str, Any] = {
        "release_id": "r2",
        "created_at": "2026-11-27T16:00:00.000Z",
        "parent_release_id": "r1",
        "added_label_count": 10,
        "labels_from": None,
        "labels_to": None,
        "item_count": 10,
        "new_item_count": 10,
        "trainable_item_count": 10,
        "label_count": 10,
        "policy_versions": ["p1"],
        "model_versions": ["m1"],
        "content_hash": "x",
        "qa_error_rate": None,
        "qa_checks": 0,
        "agreement": None,
        "overlapped_items": 0,
        "krippendorff_alpha": None,
        "validation_metric_name": "macro_f1",
        "validation_model_version": "m1",
        "validation_metric": 0.9,
        "online_proof": {
            "loop": 0.91,
            "random": 0.83,
            "served": 0.95,
            "advantage": 0.08,
            "training_labels": 120.0,
            "eval_labels": 150.0,
        },
        "counts_by_kind": {},
        "counts_by_class": {},
        "adjudication": {},
        "excluded_labels": {},
        "root_causes": {},
    }
    notes = render_notes(manifest)
    assert "## Online proof: loop vs random" in notes
    assert "the loop is ahead of random labeling" in notes
    assert "| loop - random | +0.0800 |" in notes
    manifest["online_proof"] = None
    assert "Not measured yet" in render_notes(manifest)
