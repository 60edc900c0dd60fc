"""The candidate pool: best first, skills, exclusions, ageing and bounds."""

from __future__ import annotations

from alstream.agents.router.pool import FRESH, HARD, QA, UNLIMITED, CandidatePool, PooledCandidate

DAY = 24 * 3600 * 1000


def cand(
    item: str, score: float, *, source: str = HARD, at: int = 0, skills=(), copies: int = 1
) -> PooledCandidate:
    return PooledCandidate(
        item_id=item,
        source=source,
        score=score,
        selected_at_ms=at,
        skills=frozenset(skills),
        copies_left=copies,
    )


def test_highest_score_first_and_each_copy_once() -> None:
    pool = CandidatePool(max_size=100, max_age_ms=DAY, fresh_max=10)
    for i, score in enumerate([0.2, 0.9, 0.5]):
        pool.add(cand(f"i{i}", score), now_ms=0)
    taken = [pool.take(HARD, skills=frozenset(), excluded=lambda _: False) for _ in range(4)]
    assert [t.item_id if t else None for t in taken] == ["i1", "i2", "i0", None]
    assert len(pool) == 0


def test_skills_and_exclusion_are_respected() -> None:
    pool = CandidatePool(max_size=100, max_age_ms=DAY, fresh_max=10)
    pool.add(cand("medical", 0.99, skills={"radiology"}), now_ms=0)
    pool.add(cand("seen", 0.9), now_ms=0)
    pool.add(cand("plain", 0.1), now_ms=0)
    got = pool.take(HARD, skills=frozenset({"x"}), excluded=lambda item: item == "seen")
    assert got is not None and got.item_id == "plain"
    got = pool.take(HARD, skills=frozenset({"radiology"}), excluded=lambda item: False)
    assert got is not None and got.item_id == "medical"
    assert "seen" in pool


def test_overlap_copies_and_unlimited_qa() -> None:
    pool = CandidatePool(max_size=100, max_age_ms=DAY, fresh_max=10)
    pool.add(cand("o", 0.5, copies=3), now_ms=0)
    pool.add(cand("gold", 0.0, source=QA, copies=UNLIMITED), now_ms=0)
    assert [pool.take(HARD, skills=frozenset(), excluded=lambda _: False).item_id for _ in range(3)] == [
        "o"
    ] * 3
    assert "o" not in pool
    for _ in range(5):
        assert pool.take(QA, skills=frozenset(), excluded=lambda _: False).item_id == "gold"
    assert "gold" in pool


def test_stale_candidates_age_out_and_memory_is_bounded() -> None:
    pool = CandidatePool(max_size=5, max_age_ms=1000, fresh_max=2)
    for i in range(8):
        pool.add(cand(f"i{i}", float(i), at=i), now_ms=i)
    assert len(pool) == 5 and "i0" not in pool and "i7" in pool  # oldest evicted first
    removed = pool.age_out(now_ms=1004)
    assert {r.item_id for r in removed} == {"i3"} and all(r.reason == "aged_out" for r in removed)
    for i in range(4):
        pool.add(cand(f"f{i}", 1.0, source=FRESH, at=2000 + i), now_ms=2000 + i)
    assert pool.depth()[FRESH] == 2


def test_fresh_pool_is_refreshed_monthly() -> None:
    pool = CandidatePool(max_size=100, max_age_ms=100 * DAY, fresh_max=10)
    pool.add(cand("old-month", 1.0, source=FRESH, at=10), now_ms=10)
    removed = pool.age_out(now_ms=20, month_start_ms=15)
    assert [r.reason for r in removed] == ["fresh_pool_refresh"]


def test_compaction_keeps_order() -> None:
    pool = CandidatePool(max_size=100_000, max_age_ms=DAY, fresh_max=10)
    for i in range(1000):
        pool.add(cand(f"i{i}", i / 1000), now_ms=0)
    for i in range(0, 1000, 2):
        pool.remove(f"i{i}")
    pool.compact()
    assert pool.take(HARD, skills=frozenset(), excluded=lambda _: False).item_id == "i999"
    assert len(pool) == 499
