"""One shard's behaviour: leases, labels, calibration, skills, overlap, presence, restore."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alstream.agents.router.calibration import CalibrationBook
from alstream.agents.router.quotas import Quotas
from alstream.agents.router.state import RouterShard, from_ms, week_start_ms

T0 = int(datetime(2026, 11, 4, 12, tzinfo=UTC).timestamp() * 1000)
OPEN = Quotas(
    version="u1",
    max_hard_per_day=100,
    min_normal_share=0.0,
    random_share=0.0,
    qa_rate=0.0,
    overlap_fraction=0.0,
    max_in_flight=50,
    lease_seconds=60,
)


def shard(quotas: Quotas = OPEN, book: CalibrationBook | None = None) -> RouterShard:
    return RouterShard(shard=0, shards=1, quotas=quotas, classes=["a", "b"], calibration=book)


def add(
    router: RouterShard,
    item: str,
    reason: str = "TOP_SCORE",
    *,
    skills: list[str] | None = None,
    score: float = 0.5,
    at: int = T0,
) -> None:
    router.handle_candidate(
        {
            "item_id": item,
            "reason": reason,
            "score": score,
            "selected_at": from_ms(at),
            "skills": skills or [],
        },
        now_ms=at,
    )


def ready(
    router: RouterShard, annotator: str, n: int, at: int = T0, event: str | None = None, **extra: Any
) -> list[dict[str, Any]]:
    record = {
        "event_id": event or f"{annotator}-{at}-{n}",
        "annotator_id": annotator,
        "event_type": "READY",
        "ready_for": n,
        **extra,
    }
    return router.handle_annotator_event(record, now_ms=at).assignments


def test_lease_expiry_returns_item_and_frees_the_slot() -> None:
    router = shard()
    add(router, "x")
    [a] = ready(router, "ann", 1)
    assert "x" not in router.pool and len(router.annotators["ann"].in_flight) == 1
    effects = router.expire(now_ms=T0 + 61_000)
    assert effects.expired == 1 and "x" in router.pool and not router.annotators["ann"].in_flight
    assert ready(router, "ann", 1, at=T0 + 62_000) == []  # never the same item twice to one annotator
    [b] = ready(router, "other", 1, at=T0 + 62_000)
    assert b["item_id"] == "x" and b["assignment_id"] != a["assignment_id"]


def test_label_completes_lease_and_duplicates_are_ignored() -> None:
    router = shard()
    add(router, "x")
    [a] = ready(router, "ann", 1)
    label = {"assignment_id": a["assignment_id"], "annotator_id": "ann", "item_id": "x"}
    assert router.handle_label(label, now_ms=T0 + 1).completed == 1
    assert router.handle_label(label, now_ms=T0 + 2).ignored == "no open lease"
    assert router.expire(now_ms=T0 + 120_000).expired == 0 and "x" not in router.pool


def test_in_flight_cap_and_duplicate_ready_events() -> None:
    router = shard(OPEN.model_copy(update={"max_in_flight": 3}))
    for i in range(10):
        add(router, f"i{i}")
    assert len(ready(router, "ann", 10, event="e1")) == 3
    assert ready(router, "ann", 10, event="e1") == []  # same event id: deduplicated
    assert ready(router, "ann", 10, event="e2") == []  # cap reached


def test_skills_are_matched() -> None:
    router = shard()
    add(router, "xray", skills=["radiology"], score=0.9)
    add(router, "plain", score=0.1)
    router.handle_annotator_event(
        {"event_id": "o", "annotator_id": "gen", "event_type": "ONLINE", "skills": ["general"]}, now_ms=T0
    )
    assert [a["item_id"] for a in ready(router, "gen", 5)] == ["plain"]
    router.handle_annotator_event(
        {"event_id": "s", "annotator_id": "rad", "event_type": "SKILLS", "skills": ["radiology"]}, now_ms=T0
    )
    assert [a["item_id"] for a in ready(router, "rad", 5)] == ["xray"]


def test_overlap_gives_k_distinct_annotators_the_same_group() -> None:
    router = shard(OPEN.model_copy(update={"overlap_fraction": 1.0, "overlap_k": 3}))
    add(router, "o")
    got = [a for who in ("a1", "a2", "a3", "a4") for a in ready(router, who, 1)]
    assert [a["annotator_id"] for a in got] == ["a1", "a2", "a3"]
    assert {a["kind"] for a in got} == {"OVERLAP"} and {a["overlap_group"] for a in got} == {"ovl-o"}


def test_mix_injects_qa_and_random_at_their_rates() -> None:
    quotas = OPEN.model_copy(update={"qa_rate": 0.1, "random_share": 0.2})
    router = shard(quotas)
    for i in range(100):
        add(router, f"h{i}")
        add(router, f"r{i}", "RANDOM_SLICE")
    for i in range(5):
        add(router, f"q{i}", "QA_GOLD")
    kinds = [a["kind"] for a in ready(router, "ann", 40)]
    assert kinds.count("QA") == 4 and 7 <= kinds.count("RANDOM") <= 8  # both targets fall due on slot 40
    assert kinds.count("HARD") == 40 - kinds.count("QA") - kinds.count("RANDOM")


def test_offline_returns_unlabeled_work() -> None:
    router = shard()
    add(router, "x")
    ready(router, "ann", 1)
    router.handle_annotator_event(
        {"event_id": "off", "annotator_id": "ann", "event_type": "OFFLINE"}, now_ms=T0
    )
    assert "x" in router.pool and not router.annotators["ann"].online


def test_calibration_round_goes_to_its_group_once() -> None:
    book = CalibrationBook(max_age_ms=7 * 24 * 3600 * 1000)
    router = shard(book=book)
    for i in range(3):
        add(router, f"t{i}", score=0.9)
    add(router, "x", score=0.1)
    assert [a["item_id"] for a in ready(router, "a2", 3)] == ["t0", "t1", "t2"]  # routed before the round
    book.add_event(
        {
            "calibration_id": "cal-1",
            "detected_at": from_ms(T0),
            "annotator_ids": ["a1", "a2"],
            "items": [{"item_id": f"t{i}", "predicted_class": "a"} for i in range(3)],
        }
    )
    first = ready(router, "a1", 5)
    assert [a["kind"] for a in first[:3]] == ["CALIBRATION"] * 3
    assert {a["calibration_id"] for a in first[:3]} == {"cal-1"}
    assert [a["kind"] for a in ready(router, "a1", 5, event="again")] == []  # x went in the first batch
    again = ready(router, "a2", 5)  # items a2 labeled before: that is the point of calibration
    assert [a["kind"] for a in again] == ["CALIBRATION"] * 3
    assert all(a["kind"] != "CALIBRATION" for a in ready(router, "outsider", 5))


def test_restore_from_table_resends_open_leases_and_keeps_quota() -> None:
    quotas = OPEN.model_copy(update={"max_hard_per_day": 2})
    router = shard(quotas)
    table: dict[str, Any] = {}
    for i in range(5):
        add(router, f"h{i}")
    effects = router.handle_annotator_event(
        {"event_id": "e", "annotator_id": "ann", "event_type": "READY", "ready_for": 5}, now_ms=T0
    )
    router.handle_candidate(
        {"item_id": "late", "reason": "TOP_SCORE", "score": 1.0, "selected_at": from_ms(T0)}, now_ms=T0
    )
    for key, value in effects.puts:
        table.pop(key, None) if value is None else table.__setitem__(key, value)
    for item in router.pool.values():  # the pool's own records
        table[f"c|0|{item.item_id}"] = [0, item.to_record()]
    restored = shard(quotas)
    restored.restore(table.items())
    assert {a["assignment_id"] for a in restored.open_assignments()} == {
        a["assignment_id"] for a in effects.assignments
    }
    assert ready(restored, "ann", 5, event="e2") == []  # quota (2) already used before the crash


def test_weekly_reset_point() -> None:
    monday = int(datetime(2026, 11, 2, tzinfo=UTC).timestamp() * 1000)
    assert week_start_ms(T0, weekday=0, hour=0) == monday
    assert week_start_ms(monday - 1, weekday=0, hour=0) == monday - 7 * 24 * 3600 * 1000
