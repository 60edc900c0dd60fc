"""The scorer's batch logic with in-memory messages: scores, dead letters, replays, candidates, swaps."""

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

from alstream.agents.scorer.models import ActiveModel
from alstream.agents.scorer.processor import ScorerProcessor
from alstream.agents.selection.policy import Policy
from alstream.agents.selection.random_slice import in_random_slice
from alstream.models.artifacts import ModelBundle
from alstream.settings import load_settings
from alstream.streams.codecs import SingleObjectCodec

SCORES = SingleObjectCodec("scores")
CANDIDATES = SingleObjectCodec("candidates")


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return scorer_settings(tmp_path)


def model(version: str = "m1") -> ActiveModel:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, DIM))
    y = np.array(CLASSES)[np.argmax(x[:, :3], axis=1)]
    bundle = ModelBundle(
        estimators=[LogisticRegression().fit(x, y), GaussianNB().fit(x, y)],
        classes=CLASSES,
        embedding_dim=DIM,
    )
    return ActiveModel.from_bundle(version=version, bundle=bundle, task_classes=CLASSES, embedding_dim=DIM)


def items(n: int, *, with_probs: bool, start: int = 0, partitions: int = 1, seed: int = 1) -> list[Any]:
    rng = np.random.default_rng(seed)
    return [
        item_message(
            f"item-{i}",
            topic="t.items",
            embedding=rng.normal(size=DIM),
            probabilities=rng.dirichlet([1, 1, 1]) if with_probs else None,
            partition=i % partitions,
            offset=i,
        )
        for i in range(start, start + n)
    ]


def scores_of(producer: Any) -> list[dict[str, Any]]:
    return [SCORES.decode(v) for v in producer.values("t.scores")]


def candidates_of(producer: Any) -> list[dict[str, Any]]:
    return [CANDIDATES.decode(v) for v in producer.values("t.candidates")]


def policy(**kw: Any) -> Policy:
    return Policy(version="p1", goal="g", **{"signal": {"name": "entropy"}, **kw})


def test_items_with_probabilities_are_scored_from_them(settings) -> None:  # type: ignore[no-untyped-def]
    proc = ScorerProcessor(settings=settings, policy=policy(), model=model(), clock=Clock())
    out, producer = outputs()
    batch = items(50, with_probs=True)
    proc.process(batch, out)
    got = scores_of(producer)
    assert len(got) == 50
    first = got[0]
    probs = np.frombuffer(SingleObjectCodec("items").decode(batch[0].value())["probabilities"], "<f4").astype(
        float
    )
    assert (
        first["model_version"] == "production"
        and first["signal"] == "entropy"
        and first["policy_version"] == "p1"
    )
    assert first["score"] == pytest.approx(-(probs * np.log(probs)).sum(), rel=1e-5)
    assert first["predicted_class"] == CLASSES[int(np.argmax(probs))]
    assert first["confidence"] == pytest.approx(probs.max(), rel=1e-6)


def test_embedding_only_items_use_the_committee_else_random(settings) -> None:  # type: ignore[no-untyped-def]
    out, producer = outputs()
    ScorerProcessor(settings=settings, policy=policy(), clock=Clock()).process(
        items(20, with_probs=False), out
    )
    assert {(s["signal"], s["model_version"]) for s in scores_of(producer)} == {("random", "none")}
    out, producer = outputs()
    m = model()
    ScorerProcessor(settings=settings, policy=policy(), model=m, clock=Clock()).process(
        items(20, with_probs=False), out
    )
    got = scores_of(producer)
    assert {(s["signal"], s["model_version"]) for s in got} == {("entropy", "m1")}
    emb = np.stack(
        [
            np.frombuffer(SingleObjectCodec("items").decode(x.value())["embedding"], "<f4")
            for x in items(20, with_probs=False)
        ]
    )
    mean = np.mean(m.committee(emb), axis=0)
    np.testing.assert_allclose([s["score"] for s in got], -(mean * np.log(mean)).sum(axis=1), rtol=1e-6)


def test_committee_signal_scores_disagreement(settings) -> None:  # type: ignore[no-untyped-def]
    out, producer = outputs()
    proc = ScorerProcessor(
        settings=settings, policy=policy(signal={"name": "kl_disagreement"}), model=model(), clock=Clock()
    )
    proc.process(items(30, with_probs=True), out)
    got = scores_of(producer)
    assert {(s["signal"], s["model_version"]) for s in got} == {("kl_disagreement", "m1")}
    assert all(s["score"] >= 0 for s in got) and max(s["score"] for s in got) > 0


def test_bad_items_go_to_dead_letters_not_scores(settings) -> None:  # type: ignore[no-untyped-def]
    from alstream.streams.testing import InMemoryMessage

    good = items(3, with_probs=True)
    bad = [
        InMemoryMessage("t.items", b"not avro", b"k", 0, 10),
        item_message("short", topic="t.items", embedding=np.ones(DIM - 1), offset=11),
        item_message(
            "sum", topic="t.items", embedding=np.ones(DIM), probabilities=[0.5, 0.4, 0.4], offset=12
        ),
        item_message("unit", topic="t.items", embedding=np.ones(DIM), unit="OBJECT", offset=13),
    ]
    out, producer = outputs()
    ScorerProcessor(settings=settings, policy=policy(), clock=Clock()).process(good + bad, out)
    assert sorted(s["item_id"] for s in scores_of(producer)) == ["item-0", "item-1", "item-2"]
    assert len(producer.values("t.dead-letters")) == 4


def test_replayed_batch_gives_identical_scores(settings) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    proc = ScorerProcessor(settings=settings, policy=policy(), model=model(), clock=clock)
    out, producer = outputs()
    batch = items(40, with_probs=False) + items(40, with_probs=True, start=40)
    proc.process(batch, out)
    proc.process(batch, out)
    got = scores_of(producer)
    first = {(s["item_id"]): (s["score"], s["model_version"]) for s in got[:80]}
    second = {(s["item_id"]): (s["score"], s["model_version"]) for s in got[80:]}
    assert first == second and len(first) == 80


def test_hot_swap_changes_model_version_between_batches(settings) -> None:  # type: ignore[no-untyped-def]
    updates = [None, model("m2")]
    proc = ScorerProcessor(
        settings=settings,
        policy=policy(),
        model=model("m1"),
        clock=Clock(),
        model_updates=lambda: updates.pop(0) if updates else None,
    )
    out, producer = outputs()
    proc.process(items(10, with_probs=False), out)
    proc.process(items(10, with_probs=False, start=10), out)
    versions = [s["model_version"] for s in scores_of(producer)]
    assert versions == ["m1"] * 10 + ["m2"] * 10


def test_candidates_are_bounded_and_respect_the_slice(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    gold = tmp_path / "gold.csv"
    gold.write_text("item_id,label\nitem-5,a\nitem-7,b\n", encoding="utf-8")
    clock = Clock()
    pol = policy(candidates_per_window=10, window_seconds=10, qa_gold_file=gold)
    proc = ScorerProcessor(settings=settings, policy=pol, clock=clock)
    out, producer = outputs()
    for start in range(0, 6000, 1000):
        proc.process(items(1000, with_probs=True, start=start, partitions=2, seed=start), out)
    assert producer.values("t.candidates") == []  # the window is still open
    clock.now += 11
    proc.on_idle(out)
    cands = candidates_of(producer)
    by_reason: dict[str, list[dict[str, Any]]] = {}
    for c in cands:
        by_reason.setdefault(c["reason"], []).append(c)
    per_partition_cap = 10 + pol.random_slice_candidates_per_window + 2
    assert len(cands) <= 2 * per_partition_cap
    assert (
        len(by_reason["TOP_SCORE"]) == 20
        and len(by_reason["RANDOM_SLICE"]) == 2 * pol.random_slice_candidates_per_window
    )
    assert sorted(c["item_id"] for c in by_reason["QA_GOLD"]) == ["item-5", "item-7"]
    ids = [c["item_id"] for c in by_reason["TOP_SCORE"]]
    assert not in_random_slice(ids, fraction=pol.random_slice_fraction, salt=pol.random_slice_salt).any()
    assert in_random_slice(
        [c["item_id"] for c in by_reason["RANDOM_SLICE"]], fraction=0.15, salt=pol.random_slice_salt
    ).all()
    # the top-N are the best-scoring non-slice, non-gold items of their partition
    all_scores = {s["item_id"]: s for s in scores_of(producer)}
    for partition in (0, 1):
        eligible = sorted(
            (
                s["score"]
                for i, s in all_scores.items()
                if int(i.split("-")[1]) % 2 == partition and not s["in_random_slice"] and not s["is_qa_gold"]
            ),
            reverse=True,
        )[:10]
        chosen = sorted(
            (c["score"] for c in by_reason["TOP_SCORE"] if int(c["item_id"].split("-")[1]) % 2 == partition),
            reverse=True,
        )
        assert chosen == pytest.approx(eligible)
    assert all_scores["item-5"]["is_qa_gold"]
    assert len(cands) == len({c["item_id"] for c in cands})


def test_slice_share_of_scores_is_flagged(settings) -> None:  # type: ignore[no-untyped-def]
    out, producer = outputs()
    ScorerProcessor(settings=settings, policy=policy(), clock=Clock()).process(
        items(4000, with_probs=True), out
    )
    got = scores_of(producer)
    share = np.mean([s["in_random_slice"] for s in got])
    assert abs(share - 0.15) < 5 * (0.15 * 0.85 / 4000) ** 0.5


def test_shift_review_adds_high_confidence_items(settings) -> None:  # type: ignore[no-untyped-def]
    clock = Clock()
    proc = ScorerProcessor(
        settings=settings,
        policy=policy(shift_review_share=1.0, shift_review_min_confidence=0.5, shift_review_per_window=3),
        clock=clock,
    )
    proc.drift.evaluate = lambda: True  # type: ignore[method-assign]
    proc.drift.shifted = True
    out, producer = outputs()
    proc.process(items(500, with_probs=True), out)
    clock.now += 11
    proc.on_idle(out)
    shift = [c for c in candidates_of(producer) if c["reason"] == "SHIFT_REVIEW"]
    assert len(shift) == 3 and all(c["confidence"] >= 0.5 for c in shift)


def test_segmentation_units_are_scored_by_hardness(settings) -> None:  # type: ignore[no-untyped-def]
    pol = Policy(version="s1", goal="g", unit_of_work="OBJECT", signal={"name": "hardness"})
    hard = {
        "object_hardness": np.array([0.1, 0.8], "<f4").tobytes(),
        "pixel_mean_uncertainty": None,
        "pixel_uncertain_fraction": None,
    }
    batch = [
        item_message(
            "o1", topic="t.items", embedding=np.ones(DIM), unit="OBJECT", parent_id="img-1", hardness=hard
        ),
        item_message(
            "o2", topic="t.items", embedding=np.ones(DIM), unit="OBJECT", parent_id="img-1", offset=1
        ),
    ]
    out, producer = outputs()
    ScorerProcessor(settings=settings, policy=pol, clock=Clock()).process(batch, out)
    got = {s["item_id"]: s for s in scores_of(producer)}
    assert got["o1"]["signal"] == "hardness" and got["o1"]["score"] == pytest.approx(0.8)
    assert got["o1"]["unit_of_work"] == "OBJECT"
    assert got["o2"]["signal"] == "random"  # no summary: the fallback, and the score says so


def test_rows_stay_aligned_when_some_are_dead_lettered(settings) -> None:  # type: ignore[no-untyped-def]
    """Dead-lettering rows at each stage (decode, non-finite, bad sums) must not shift later rows."""
    from alstream.streams.testing import InMemoryMessage

    rng = np.random.default_rng(5)
    probs = {f"p-{i}": rng.dirichlet([1, 1, 1]) for i in range(6)}
    batch = [
        item_message(item_id, topic="t.items", embedding=rng.normal(size=DIM), probabilities=p, offset=i)
        for i, (item_id, p) in enumerate(probs.items())
    ]
    batch.insert(1, InMemoryMessage("t.items", b"\x00\x01garbage", b"k", 0, 20))
    batch.insert(
        3,
        item_message(
            "nan", topic="t.items", embedding=[np.nan] * DIM, probabilities=[0.2, 0.3, 0.5], offset=21
        ),
    )
    batch.insert(
        5,
        item_message(
            "sum", topic="t.items", embedding=np.ones(DIM), probabilities=[0.9, 0.9, 0.9], offset=22
        ),
    )
    batch.insert(6, item_message("plain", topic="t.items", embedding=np.ones(DIM), offset=23))
    out, producer = outputs()
    ScorerProcessor(settings=settings, policy=policy(), model=model(), clock=Clock()).process(batch, out)
    got = {s["item_id"]: s for s in scores_of(producer)}
    assert set(got) == set(probs) | {"plain"}
    for item_id, p in probs.items():
        p32 = np.asarray(p, dtype="<f4").astype(float)
        assert got[item_id]["model_version"] == "production"
        assert got[item_id]["score"] == pytest.approx(-(p32 * np.log(p32)).sum(), rel=1e-5), item_id
        assert got[item_id]["predicted_class"] == CLASSES[int(np.argmax(p32))]
    assert got["plain"]["model_version"] == "m1"
    assert len(producer.values("t.dead-letters")) == 3


def test_confluent_wire_format_scores_like_single_object(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With the Confluent wire format every record is read by the registry codec, not the fast path."""
    from alstream.streams.codecs import codec_for
    from alstream.streams.testing import InMemoryMessage

    confluent = load_settings(
        kafka={"topic_prefix": "t."},
        task={"classes": CLASSES},
        metrics={"port": 0},
        ingest={"embedding_dim": DIM},
        paths={"state_dir": tmp_path / "c"},
        codec={"wire_format": "confluent", "schema_registry_url": "mock://scorer-test"},
    )
    single = items(12, with_probs=True)
    item_codec = codec_for("items", confluent)
    converted = [
        InMemoryMessage(
            m.topic(), item_codec.encode(SingleObjectCodec("items").decode(m.value())), m.key(), 0, m.offset()
        )
        for m in single
    ]
    out, producer = outputs()
    ScorerProcessor(settings=settings, policy=policy(), model=model(), clock=Clock()).process(single, out)
    expected = {s["item_id"]: s["score"] for s in scores_of(producer)}
    out, producer = outputs()
    ScorerProcessor(settings=confluent, policy=policy(), model=model(), clock=Clock()).process(converted, out)
    scores_codec = codec_for("scores", confluent)
    got = {s["item_id"]: s["score"] for s in (scores_codec.decode(v) for v in producer.values("t.scores"))}
    assert got == expected and len(got) == 12
