"""Calibration work is assigned by the shard its labels reach, and only for items the router knows."""

from __future__ import annotations

from collections import Counter

from alstream.agents.router import reasons
from alstream.agents.router.calibration import CalibrationBook
from alstream.agents.router.quotas import Quotas
from alstream.agents.router.state import from_ms
from alstream.streams.partitioning import partition_for
from tests.support.router import ShardedRouter

QUOTAS = Quotas(
    version="cal-1",
    max_hard_per_day=1000,
    min_normal_share=0.0,
    random_share=0.0,
    qa_rate=0.0,
    overlap_fraction=1.0,
    overlap_k=2,
    max_in_flight=80,
)
SHARDS = 4


def overlapped_round(
    router: ShardedRouter, book: CalibrationBook, items: list[str], extra: list[str]
) -> None:
    """``items`` labeled by two annotators each (overlap), then a round naming them and ``extra``."""
    for item in items:
        router.add(item)
    for annotator in ("a1", "a2"):
        for assignment in router.ready(annotator, 20):
            router.label(assignment)
    book.add_event(
        {
            "calibration_id": "cal-7",
            "detected_at": router.now,
            "annotator_ids": ["a1", "a2"],
            "items": [{"item_id": item, "predicted_class": "cat"} for item in items + extra],
        }
    )


def test_a_calibration_label_completes_its_lease_on_every_shard() -> None:
    book = CalibrationBook(max_age_ms=7 * 24 * 3600 * 1000)
    router = ShardedRouter(QUOTAS, shards=SHARDS, calibration=book)
    items = [f"contested-{i}" for i in range(24)]
    assert len({partition_for(item, SHARDS) for item in items}) == SHARDS  # every shard owns some
    overlapped_round(router, book, items, extra=[])
    router.tick(60)
    work = router.ready("a1", 10)
    assert {a["kind"] for a in work} == {"CALIBRATION"} and len(work) == len(items)
    for assignment in work:  # each from the shard of its item's partition: where its label goes
        assert router.label(assignment).completed == 1, assignment["item_id"]
    assert all(not shard.leases for shard in router.shards)
    assert all(not shard.annotators["a1"].in_flight for shard in router.shards)


def test_rounds_naming_items_the_router_never_routed_are_refused_and_counted() -> None:
    book = CalibrationBook(max_age_ms=7 * 24 * 3600 * 1000)
    router = ShardedRouter(QUOTAS, shards=SHARDS, calibration=book)
    known = [f"real-{i}" for i in range(8)]
    forged = [f"forged-{i}" for i in range(5)]
    overlapped_round(router, book, known, extra=forged)
    router.tick(60)
    first = router.ready("a1", 20)
    second = router.ready("a2", 20)
    assert {a["item_id"] for a in first} == set(known) == {a["item_id"] for a in second}
    assert router.calibration_refused == Counter({reasons.UNKNOWN_ITEM: len(forged)})  # once per item


def test_vouching_survives_a_restart() -> None:
    book = CalibrationBook(max_age_ms=7 * 24 * 3600 * 1000)
    router = ShardedRouter(QUOTAS, shards=SHARDS, calibration=book)
    items = [f"kept-{i}" for i in range(6)]
    for item in items:
        router.add(item)
    for annotator in ("a1", "a2"):
        for assignment in router.ready(annotator, 20):
            router.label(assignment)
    router.restart()  # the pool is empty and no lease is open: only the "seen" marks remember the items
    book.add_event(
        {
            "calibration_id": "cal-after",
            "detected_at": from_ms(router.now_ms),
            "annotator_ids": ["a1"],
            "items": [{"item_id": item, "predicted_class": None} for item in items],
        }
    )
    assert {a["item_id"] for a in router.ready("a1", 20)} == set(items)
    assert not router.calibration_refused
