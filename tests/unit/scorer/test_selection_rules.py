"""The policy's selection rules inside the scorer: window diversity, cold start, fused signals."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB

sys.path.insert(0, str(Path(__file__).parent))
from helpers import CLASSES, DIM, Clock, item_message, outputs, scorer_settings

from alstream.agents.scorer.metrics import COLD_START_ACTIVE
from alstream.agents.scorer.models import ActiveModel
from alstream.agents.scorer.processor import ScorerProcessor
from alstream.agents.selection.policy import Policy
from alstream.models.artifacts import ModelBundle
from alstream.streams.codecs import SingleObjectCodec

SCORES = SingleObjectCodec("scores")
CANDIDATES = SingleObjectCodec("candidates")


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return scorer_settings(tmp_path)


def active_model(*, counts: dict[str, int] | None = None, reference: bool = False) -> ActiveModel:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, DIM))
    y = np.array(CLASSES)[np.argmax(x[:, :3], axis=1)]
    bundle = ModelBundle(
        estimators=[LogisticRegression().fit(x, y), GaussianNB().fit(x, y)],
        classes=CLASSES,
        embedding_dim=DIM,
        class_counts=counts if counts is not None else dict.fromkeys(CLASSES, 100),
        reference_embeddings=rng.normal(size=(200, DIM)).astype(np.float32) if reference else None,
    )
    return ActiveModel.from_bundle(version="m1", bundle=bundle, task_classes=CLASSES, embedding_dim=DIM)


def policy(**kw: Any) -> Policy:
    body = {"version": "p1", "goal": "g", "signal": {"name": "margin"}, "random_slice_fraction": 0.05, **kw}
    return Policy(**body)


def test_window_of_near_duplicates_yields_spread_out_candidates(settings) -> None:  # type: ignore[no-untyped-def]
    """The most uncertain items all sit in one place: the top-N would send near-copies of one item."""
    rng = np.random.default_rng(3)
    boundary = np.array([0.0, 0.0, 0.0, 0.0])  # all three classes tie here: the highest margin scores
    near_copies = boundary + rng.normal(scale=0.001, size=(60, DIM))
    elsewhere = rng.normal(scale=1.0, size=(300, DIM))
    points = np.vstack([near_copies, elsewhere])
    messages = [
        item_message(f"item-{i}", topic="t.items", embedding=p, offset=i) for i, p in enumerate(points)
    ]

    def top_candidates(pol: Policy) -> np.ndarray:
        clock = Clock()
        out, producer = outputs()
        proc = ScorerProcessor(settings=settings, policy=pol, model=active_model(), clock=clock)
        proc.process(messages, out)
        clock.now += pol.window_seconds + 1
        proc.on_idle(out)
        chosen = [
            c for c in map(CANDIDATES.decode, producer.values("t.candidates")) if c["reason"] == "TOP_SCORE"
        ]
        return np.array([int(c["item_id"].split("-")[1]) for c in chosen])

    plain = top_candidates(policy(candidates_per_window=10))
    spread = top_candidates(policy(candidates_per_window=10, diversity={"method": "kmeans++", "pool": 10}))
    assert len(plain) == len(spread) == 10
    assert (plain < 60).all()  # ten near-copies of the same point
    assert (spread < 60).sum() <= 2  # one or two from the cluster, the rest from elsewhere
    spread_distance = np.mean(
        [np.linalg.norm(points[i] - points[j]) for i in spread for j in spread if i < j]
    )
    plain_distance = np.mean([np.linalg.norm(points[i] - points[j]) for i in plain for j in plain if i < j])
    assert spread_distance > 100 * plain_distance


def test_cold_start_ranks_at_random_until_every_class_has_enough_labels(settings) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(4)
    batch = [
        item_message(f"item-{i}", topic="t.items", embedding=rng.normal(size=DIM), offset=i)
        for i in range(50)
    ]
    pol = policy(cold_start={"labels_per_class": 5})
    out, producer = outputs()
    proc = ScorerProcessor(
        settings=settings, policy=pol, model=active_model(counts={"a": 9, "b": 9, "c": 2}), clock=Clock()
    )
    proc.process(batch, out)
    cold = [SCORES.decode(v) for v in producer.values("t.scores")]
    assert {s["signal"] for s in cold} == {"random"}
    assert {s["model_version"] for s in cold} == {"m1"}  # the model still predicts; it does not rank yet
    assert all(s["predicted_class"] in CLASSES for s in cold)
    assert COLD_START_ACTIVE._value.get() == 1

    proc.swap_model(active_model(counts={"a": 9, "b": 9, "c": 5}))
    out, producer = outputs()
    proc.process(batch, out)
    warm = [SCORES.decode(v) for v in producer.values("t.scores")]
    assert {s["signal"] for s in warm} == {"margin"}
    assert COLD_START_ACTIVE._value.get() == 0


def test_fused_policy_ranks_against_the_models_reference_sample(settings) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(5)
    pol = policy(signal=None, signals=[{"name": "margin", "weight": 2}, {"name": "kl_disagreement"}])
    proc = ScorerProcessor(settings=settings, policy=pol, model=active_model(reference=True), clock=Clock())
    embeddings = rng.normal(size=(40, DIM))
    batch = [
        item_message(f"item-{i}", topic="t.items", embedding=e, offset=i) for i, e in enumerate(embeddings)
    ]
    out, producer = outputs()
    proc.process(batch, out)
    proc.process(batch[:7], out)  # the same items in a smaller batch score the same: ranks use the reference
    records = [SCORES.decode(v) for v in producer.values("t.scores")]
    first, second = records[:40], records[40:]
    assert {r["signal"] for r in records} == {"fusion:margin+kl_disagreement"}
    assert [r["score"] for r in first[:7]] == [r["score"] for r in second]
    assert all(0.0 <= r["score"] <= 1.0 for r in records)
