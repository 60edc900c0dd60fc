"""Batch diversity: a window of near-duplicates yields spread-out candidates, the same ones on a replay."""

from __future__ import annotations

import numpy as np

from alstream.agents.selection.diversity import kmeans_pp_pick, pick_diverse
from alstream.agents.selection.policy import ColdStartSpec


def _three_regions(seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """60 candidates: 40 near-duplicates in region A score highest, 10 each in regions B and C."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0]])
    region = np.array([0] * 40 + [1] * 10 + [2] * 10)
    points = centres[region] + rng.normal(scale=0.01, size=(60, 3))
    scores = np.where(region == 0, 0.9, 0.8) + rng.uniform(0, 0.01, size=60)
    return points, scores, [f"item-{i}" for i in range(60)], region


def test_top_n_alone_sends_near_duplicates_diversity_spreads_them() -> None:
    points, scores, ids, region = _three_regions()
    top = pick_diverse(scores, points, 6, ids=ids, method="none")
    assert set(region[top].tolist()) == {0}  # all six from region A
    spread = pick_diverse(scores, points, 6, ids=ids, method="kmeans++")
    assert set(region[spread].tolist()) == {0, 1, 2}
    assert spread[0] == int(np.argmax(scores))  # the best item is always first
    assert len(set(spread.tolist())) == 6


def test_picks_are_a_function_of_the_candidates_not_of_the_call() -> None:
    points, scores, ids, _ = _three_regions()
    first = kmeans_pp_pick(scores, points, 8, ids=ids)
    again = kmeans_pp_pick(scores, points, 8, ids=ids)
    order = np.random.default_rng(5).permutation(60)  # the same window, offered in another order
    shuffled = kmeans_pp_pick(scores[order], points[order], 8, ids=[ids[i] for i in order])
    assert first.tolist() == again.tolist()
    assert sorted(ids[i] for i in first) == sorted(ids[order[i]] for i in shuffled)


def test_exact_duplicates_and_small_windows() -> None:
    points = np.zeros((5, 2))
    scores = np.array([0.1, 0.5, 0.3, 0.2, 0.4])
    picks = kmeans_pp_pick(scores, points, 3, ids=[str(i) for i in range(5)])
    assert picks.tolist() == [1, 4, 2]  # nothing to spread: best scores, in order
    assert pick_diverse(scores, points, 10, ids=[str(i) for i in range(5)], method="kmeans++").tolist() == [
        1,
        4,
        2,
        3,
        0,
    ]


def test_cold_start_rule() -> None:
    rule = ColdStartSpec(labels_per_class=3)
    assert rule.applies({"a": 5, "b": 2}, ["a", "b"])
    assert rule.applies({"a": 5, "b": 5}, ["a", "b", "c"])  # a class the model never saw
    assert not rule.applies({"a": 3, "b": 4}, ["a", "b"])
    assert not rule.applies({"a": 3, "b": 4}, [])  # no task classes: the model's own
    assert not ColdStartSpec().applies({"a": 0}, ["a"])  # off by default
    assert not rule.applies({}, ["a"])  # a bundle that does not record its counts is never held back
