"""Every signal against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alstream.agents.selection.exceptions import SignalInputError, UnknownSignal
from alstream.agents.selection.failure_bank import FailureBank
from alstream.agents.selection.signals import SIGNALS, signal_named

E = np.zeros((3, 2))
P = np.array([[0.5, 0.5, 0.0], [0.7, 0.2, 0.1], [1.0, 0.0, 0.0]])


def score(name: str, **kw):  # type: ignore[no-untyped-def]
    params = kw.pop("params", {})
    args = {"probabilities": None, "committee": None, "embeddings": E, **kw}
    return signal_named(name, **params).score(**args)


def test_entropy_matches_hand_computation() -> None:
    expected = [math.log(2), -(0.7 * math.log(0.7) + 0.2 * math.log(0.2) + 0.1 * math.log(0.1)), 0.0]
    np.testing.assert_allclose(score("entropy", probabilities=P), expected, atol=1e-9)
    np.testing.assert_allclose(
        score("entropy", probabilities=P, params={"normalize": True}),
        np.array(expected) / math.log(3),
        atol=1e-9,
    )


def test_margin_is_one_minus_gap_of_top_two() -> None:
    np.testing.assert_allclose(score("margin", probabilities=P), [1.0, 0.5, 0.0], atol=1e-12)


def test_least_confidence_is_one_minus_top_probability() -> None:
    np.testing.assert_allclose(score("least_confidence", probabilities=P), [0.5, 0.3, 0.0], atol=1e-12)


def test_low_confidence_scores_only_below_threshold() -> None:
    # threshold 0.6: (0.6 - 0.5) / 0.6, 0.7 and 1.0 are above it
    np.testing.assert_allclose(
        score("low_confidence", probabilities=P, params={"threshold": 0.6}), [0.1 / 0.6, 0.0, 0.0], atol=1e-12
    )
    # on class 1's probability: (0.6-0.5)/0.6, (0.6-0.2)/0.6, 0.6/0.6
    np.testing.assert_allclose(
        score("low_confidence", probabilities=P, params={"threshold": 0.6, "class_index": 1}),
        [0.1 / 0.6, 0.4 / 0.6, 1.0],
        atol=1e-12,
    )


def test_vote_entropy_counts_argmax_votes() -> None:
    a = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8]])
    b = np.array([[0.4, 0.6], [0.7, 0.3], [0.1, 0.9]])
    np.testing.assert_allclose(score("vote_entropy", committee=[a, b]), [math.log(2), 0.0, 0.0], atol=1e-12)
    c = np.array([[0.1, 0.9], [0.6, 0.4], [0.3, 0.7]])
    # three members, votes (1 of class 0, 2 of class 1) on row 0
    expected0 = -(1 / 3 * math.log(1 / 3) + 2 / 3 * math.log(2 / 3))
    np.testing.assert_allclose(score("vote_entropy", committee=[a, b, c])[0], expected0, atol=1e-12)


def test_kl_disagreement_is_mean_kl_to_consensus() -> None:
    a = np.array([[0.9, 0.1], [0.5, 0.5]])
    b = np.array([[0.1, 0.9], [0.5, 0.5]])
    # consensus of row 0 is (0.5, 0.5): KL(a||m) = 0.9 ln 1.8 + 0.1 ln 0.2, the same for b by symmetry
    kl = 0.9 * math.log(1.8) + 0.1 * math.log(0.2)
    np.testing.assert_allclose(
        score("kl_disagreement", committee=[a, b], embeddings=np.zeros((2, 2))), [kl, 0.0], atol=1e-9
    )


def test_failure_distance_prefers_items_near_known_failures() -> None:
    bank = FailureBank()
    bank.append(["f1", "f2"], np.array([[0.0, 0.0], [10.0, 0.0]]))
    items = np.array([[0.0, 3.0], [9.0, 0.0], [5.0, 0.0]])
    # nearest distances 3, 1, 5 -> 1 / (1 + d / 2)
    got = signal_named("failure_distance", bank=bank, scale=2.0).score(
        probabilities=None, committee=None, embeddings=items
    )
    np.testing.assert_allclose(got, [1 / 2.5, 1 / 1.5, 1 / 3.5], atol=1e-6)


def test_failure_distance_with_empty_bank_scores_zero() -> None:
    got = signal_named("failure_distance").score(
        probabilities=None, committee=None, embeddings=np.ones((2, 3))
    )
    np.testing.assert_array_equal(got, [0.0, 0.0])


def test_random_is_a_stable_uniform_hash_of_the_id() -> None:
    ids = [f"item-{i}" for i in range(5000)]
    first = score("random", item_ids=ids, embeddings=np.zeros((5000, 2)))
    second = score("random", item_ids=list(ids), embeddings=np.ones((5000, 2)))
    np.testing.assert_array_equal(first, second)
    assert first.min() >= 0.0 and first.max() < 1.0
    assert abs(first.mean() - 0.5) < 0.02  # sd of the mean ~ 0.004


def test_hardness_summarises_objects_and_pixels() -> None:
    sig = signal_named("hardness")
    objects = {"object_hardness": np.array([0.2, 0.9], "<f4").tobytes(), "pixel_mean_uncertainty": None}
    assert sig.summarise(objects, "OBJECT") == pytest.approx(0.9)  # type: ignore[attr-defined]
    assert signal_named("hardness", aggregate="mean").summarise(objects, "OBJECT") == pytest.approx(0.55)  # type: ignore[attr-defined]
    pixels = {"object_hardness": b"", "pixel_mean_uncertainty": 0.3, "pixel_uncertain_fraction": 0.6}
    assert sig.summarise(pixels, "PIXEL_MASK") == pytest.approx(0.3)  # type: ignore[attr-defined]
    assert math.isnan(sig.summarise(None, "OBJECT"))  # type: ignore[attr-defined]


def test_every_signal_explains_itself_in_two_sentences() -> None:
    for name, cls in SIGNALS.items():
        text = cls.explanation  # type: ignore[attr-defined]
        assert text.count(". ") + text.endswith(".") == 2, name


def test_errors_are_clear() -> None:
    with pytest.raises(UnknownSignal, match="choose one of"):
        signal_named("magic")
    with pytest.raises(SignalInputError, match="needs class probabilities"):
        score("entropy")
    with pytest.raises(SignalInputError, match="committee"):
        score("vote_entropy")
    with pytest.raises(SignalInputError, match="takes no parameters"):
        signal_named("margin", foo=1)
    with pytest.raises(SignalInputError, match=r"has no parameter foo; signal .entropy. takes: normalize"):
        signal_named("entropy", foo=1)
