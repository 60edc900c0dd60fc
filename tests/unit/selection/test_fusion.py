"""Rank fusion: weighted signals combined on ranks, so no signal wins by having bigger numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alstream.agents.selection.exceptions import PolicyError
from alstream.agents.selection.fusion import RankFusion, mid_ranks
from alstream.agents.selection.policy import load_policy
from alstream.agents.selection.signals import Signal, signal_named


class Fixed(Signal):
    """A signal that returns the first embedding column times a factor (for controlled scales)."""

    name = "fixed"
    needs = "embeddings"

    def __init__(self, *, column: int, factor: float = 1.0) -> None:
        self.column, self.factor = column, factor

    def score(self, *, probabilities, committee, embeddings, item_ids=None, hardness=None):  # type: ignore[no-untyped-def]
        return self.factor * np.asarray(embeddings)[:, self.column]


def test_mid_ranks_count_ties_as_half() -> None:
    reference = np.sort(np.array([0.0, 1.0, 1.0, 2.0]))
    assert mid_ranks(reference, np.array([-1.0, 1.0, 5.0])).tolist() == [0.0, 0.5, 1.0]


def test_scales_do_not_matter_only_ranks_and_weights_do() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    small = RankFusion(members=[(Fixed(column=0), 1.0), (Fixed(column=1), 1.0)])
    # the second signal's numbers are a million times larger: plain addition would let it decide alone
    huge = RankFusion(members=[(Fixed(column=0), 1.0), (Fixed(column=1, factor=1e6), 1.0)])
    a = small.score(probabilities=None, committee=None, embeddings=x)
    b = huge.score(probabilities=None, committee=None, embeddings=x)
    assert np.allclose(a, b)
    assert a.min() >= 0 and a.max() <= 1
    # a weight moves the ranking towards the heavier signal
    heavy_first = RankFusion(members=[(Fixed(column=0), 9.0), (Fixed(column=1), 1.0)])
    c = heavy_first.score(probabilities=None, committee=None, embeddings=x)
    assert np.corrcoef(c, x[:, 0])[0, 1] > np.corrcoef(a, x[:, 0])[0, 1] > 0


def test_with_a_reference_an_item_scores_the_same_in_any_batch() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(500, 2))
    fused = RankFusion(members=[(Fixed(column=0), 2.0), (Fixed(column=1), 1.0)])
    fused.fit_reference(probabilities=None, committee=None, embeddings=reference)
    item = np.array([[0.3, -0.2]])
    alone = fused.score(probabilities=None, committee=None, embeddings=item)
    in_batch = fused.score(
        probabilities=None, committee=None, embeddings=np.vstack([rng.normal(size=(50, 2)), item])
    )
    assert alone[0] == in_batch[-1]
    expected = (
        2 * mid_ranks(np.sort(reference[:, 0]), item[:, 0]) + mid_ranks(np.sort(reference[:, 1]), item[:, 1])
    ) / 3
    assert alone[0] == pytest.approx(expected[0])


def test_real_signals_fuse_and_explain_themselves_in_two_sentences() -> None:
    fused = RankFusion(members=[(signal_named("margin"), 2.0), (signal_named("kl_disagreement"), 1.0)])
    assert fused.needs == "committee"  # the most demanding member decides what the scorer must compute
    assert fused.label == "fusion:margin+kl_disagreement"
    assert fused.explanation.count(". ") + fused.explanation.endswith(".") == 2
    assert "margin (67%)" in fused.explanation and "kl_disagreement (33%)" in fused.explanation
    rng = np.random.default_rng(2)
    members = [rng.dirichlet([1, 1, 1], size=40) for _ in range(2)]
    scores = fused.score(
        probabilities=np.mean(members, axis=0), committee=members, embeddings=np.zeros((40, 2))
    )
    assert scores.shape == (40,) and np.isfinite(scores).all()


def test_policy_file_with_signals_builds_a_fusion(tmp_path: Path) -> None:
    path = tmp_path / "fused.toml"
    path.write_text(
        'version = "f-1"\ngoal = "g"\n'
        '[[signals]]\nname = "margin"\nweight = 3\n'
        '[[signals]]\nname = "failure_distance"\nparams = { bank_file = "bank.npz", scale = 2.0 }\n',
        encoding="utf-8",
    )
    policy = load_policy(path)
    assert policy.signal is None and policy.signal_names == ["margin", "failure_distance"]
    assert policy.signal_name == "fusion:margin+failure_distance"
    assert policy.uses_failure_bank
    assert policy.signals[1].params["bank_file"] == str(tmp_path / "bank.npz")  # relative to the file
    signal = policy.build_signal()
    assert isinstance(signal, RankFusion) and signal.shares == [0.75, 0.25]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            '[signal]\nname = "margin"\n[[signals]]\nname = "entropy"\n[[signals]]\nname = "margin"\n',
            "not both",
        ),
        ('[[signals]]\nname = "margin"\n', "two or more"),
        ('[[signals]]\nname = "margin"\n[[signals]]\nname = "oracle"\n', "unknown signal"),
        ('[[signals]]\nname = "margin"\nweight = 0\n[[signals]]\nname = "entropy"\n', "greater than 0"),
        (
            'unit_of_work = "OBJECT"\n[[signals]]\nname = "hardness"\n[[signals]]\nname = "entropy"\n',
            "cannot be fused",
        ),
    ],
)
def test_bad_fusions_are_refused_with_the_fix(tmp_path: Path, body: str, fragment: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'version = "b-1"\ngoal = "g"\n{body}', encoding="utf-8")
    with pytest.raises(PolicyError, match=fragment):
        load_policy(path)
