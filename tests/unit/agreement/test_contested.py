from __future__ import annotations

from alstream.agents.agreement.consolidate import consolidate, is_model_failure, root_cause_of
from alstream.agents.agreement.contested import CompletedItem, select_contested


def _pool(n: int, classes: list[str]) -> list[CompletedItem]:
    items = []
    for i in range(n):
        cls = classes[i % len(classes)]
        other = classes[(i + 1) % len(classes)]
        ratings = {"a": cls, "b": cls, "c": other if i % 2 == 0 else cls}
        items.append(CompletedItem(item_id=f"i{i}", ratings=ratings, predicted_class=cls, sequence=i))
    return items


def test_selection_is_bounded_contested_first_and_spread_across_classes() -> None:
    chosen = select_contested(_pool(200, ["x", "y", "z"]), min_items=20, max_items=50)
    assert 20 <= len(chosen) <= 50
    assert all(item.disagreement > 0 for item in chosen)
    counts = {c: sum(item.predicted_class == c for item in chosen) for c in "xyz"}
    assert max(counts.values()) - min(counts.values()) <= 1


def test_selection_pads_to_the_minimum_with_recent_items() -> None:
    chosen = select_contested(_pool(30, ["x", "y"]), min_items=20, max_items=50)
    assert len(chosen) == 20
    assert len({item.item_id for item in chosen}) == 20


def test_consolidation_and_failures() -> None:
    assert consolidate(["a", "a", "b"]) == "a"
    assert consolidate(["a", "b"]) is None
    assert consolidate([]) is None
    assert is_model_failure("a", "b")
    assert not is_model_failure("a", "a")
    assert not is_model_failure(None, "a")
    assert root_cause_of([None, "model_bias", "model_bias", "other"]) == "model_bias"
    assert root_cause_of([None]) == "untagged"
