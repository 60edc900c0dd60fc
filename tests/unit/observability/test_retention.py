"""`alstream status` warns when the oldest record a reader still needs nears its topic's retention."""

from __future__ import annotations

from alstream.observability.retention import Unread, retention_problem
from alstream.streams.topics import DAY_MS, spec

NOW_MS = 2_000_000_000_000
CANDIDATES = spec("candidates")  # 30 days


def unread(*, committed: int = 10, first: int = 0, age_days: float | None = None) -> Unread:
    oldest = None if age_days is None else int(NOW_MS - age_days * DAY_MS)
    return Unread("release", "p.candidates", 2, committed, first, oldest)


def test_a_young_unread_record_is_fine() -> None:
    assert retention_problem(unread(age_days=10), CANDIDATES, now_ms=NOW_MS) is None


def test_nothing_unread_is_fine() -> None:
    assert retention_problem(unread(age_days=None), CANDIDATES, now_ms=NOW_MS) is None


def test_an_unread_record_near_retention_is_named_with_who_needs_it() -> None:
    problem = retention_problem(unread(age_days=25), CANDIDATES, now_ms=NOW_MS)
    assert problem is not None
    assert "release: p.candidates partition 2" in problem and "25.0 days old" in problem
    assert "keeps 30 days" in problem and "release ledger" in problem


def test_records_deleted_before_the_reader_got_them_are_counted() -> None:
    problem = retention_problem(unread(committed=4, first=10), CANDIDATES, now_ms=NOW_MS)
    assert problem is not None and "6 records expired" in problem


def test_every_topic_says_who_relies_on_its_history() -> None:
    from alstream.streams.topics import CATALOGUE

    assert all(topic.needed_by for topic in CATALOGUE)
