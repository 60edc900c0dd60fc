"""Agreement statistics against published reference values and the libraries called directly."""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from alstream.agents.agreement import statistics as st

NAN = math.nan


def _items_from_reliability(data: list[list[float]]) -> list[dict[str, str]]:
    items = []
    for unit in range(len(data[0])):
        items.append(
            {f"coder{c}": str(int(row[unit])) for c, row in enumerate(data) if not math.isnan(row[unit])}
        )
    return items


def test_krippendorff_alpha_matches_published_example_with_missing_data() -> None:
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", 4 observers, 12 units, nominal: 0.743
    data = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
    alpha = st.krippendorff_alpha(_items_from_reliability(data), ["1", "2", "3", "4", "5"])
    assert alpha == pytest.approx(0.743, abs=5e-4)
    assert alpha == pytest.approx(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))


def test_krippendorff_alpha_matches_library_on_the_packages_own_example() -> None:
    data = [
        [NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
        [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
        [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4],
    ]
    alpha = st.krippendorff_alpha(_items_from_reliability(data), ["1", "2", "3", "4"])
    assert alpha == pytest.approx(0.691358024691358)


def test_fleiss_kappa_matches_the_wikipedia_example() -> None:
    # 10 subjects, 14 raters, 5 categories; Fleiss' kappa = 0.210
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    classes = ["a", "b", "c", "d", "e"]
    items = []
    for row in table:
        values = [c for c, n in zip(classes, row, strict=True) for _ in range(n)]
        items.append({f"r{i}": v for i, v in enumerate(values)})
    assert st.fleiss_kappa(items, classes) == pytest.approx(0.2099, abs=1e-4)


def test_cohen_kappa_matches_the_textbook_example_and_sklearn() -> None:
    # 50 items: both yes 20, both no 15, A yes / B no 5, A no / B yes 10 -> kappa 0.4
    pairs = [("yes", "yes")] * 20 + [("no", "no")] * 15 + [("yes", "no")] * 5 + [("no", "yes")] * 10
    items = [{"ann": a, "bob": b} for a, b in pairs]
    kappas = st.cohen_kappa_pairs(items)
    assert kappas[("ann", "bob")] == pytest.approx(0.4)
    assert kappas[("ann", "bob")] == pytest.approx(
        cohen_kappa_score([a for a, _ in pairs], [b for _, b in pairs])
    )


def test_percent_agreement_and_pair_disagreement() -> None:
    assert st.pair_disagreement(["a", "a", "b"]) == pytest.approx(2 / 3)
    assert st.pair_disagreement(["a", "a"]) == 0.0
    items = [{"x": "a", "y": "a"}, {"x": "a", "y": "b"}, {"x": "b"}]  # the single-rater item is ignored
    assert st.percent_agreement(items) == pytest.approx(0.5)


def test_class_specific_agreement() -> None:
    items = [{"x": "a", "y": "a"}, {"x": "a", "y": "b"}]
    per_class = st.class_specific_agreement(items, ["a", "b", "c"])
    assert per_class["a"] == pytest.approx(2 / 3)
    assert per_class["b"] == 0.0
    assert per_class["c"] is None


def test_undefined_statistics_are_none_not_nan() -> None:
    items = [{"x": "a", "y": "a"}, {"x": "a", "y": "a"}, {"x": "a", "y": "a"}]
    summary = st.summarize(items, ["a", "b"])
    assert summary.krippendorff_alpha is None
    assert summary.fleiss_kappa is None
    assert summary.disagreement_rate == 0.0
    assert summary.percent_agreement == 1.0
    assert st.summarize([], ["a", "b"]).disagreement_rate is None


def test_summary_on_random_data_is_consistent() -> None:
    rng = np.random.default_rng(3)
    items = [
        {f"r{j}": str(rng.integers(0, 3)) for j in rng.choice(5, size=3, replace=False)} for _ in range(100)
    ]
    summary = st.summarize(items, ["0", "1", "2"])
    assert summary.items == 100
    assert -0.2 < (summary.krippendorff_alpha or 0) < 0.2  # random answers: no agreement beyond chance
    assert summary.disagreement_rate == pytest.approx(sum(len(set(i.values())) > 1 for i in items) / 100)
