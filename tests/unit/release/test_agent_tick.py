"""The release agent honours on-demand requests and cuts the weekly slot once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from alstream.agents.release import main as release_main
from alstream.agents.release.builder import iso
from alstream.agents.release.requests import pending, request_build
from alstream.settings import load_settings


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[datetime]:
    cutoffs: list[datetime] = []
    stored: list[dict[str, str]] = []

    def fake_build(settings: object, *, cutoff: datetime, **_: object) -> SimpleNamespace:
        cutoffs.append(cutoff)
        stored.append({"created_at": iso(cutoff) or ""})
        return SimpleNamespace(release=SimpleNamespace(release_id=f"r{len(cutoffs)}"))

    monkeypatch.setattr(release_main, "build_and_announce", fake_build)
    monkeypatch.setattr(release_main, "store_for", lambda settings: SimpleNamespace(manifests=lambda: stored))
    monkeypatch.setenv("ALSTREAM_PATHS__STATE_DIR", str(tmp_path))
    return cutoffs


def test_requests_are_built_then_removed_and_weekly_slot_once(built: list[datetime]) -> None:
    settings = load_settings()
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    request_build(settings, cutoff=datetime(2026, 11, 24, 8, 0, tzinfo=UTC))
    agent = release_main.ReleaseAgent(settings=settings)
    assert agent.tick(now) == ["r1", "r2"]
    assert built == [datetime(2026, 11, 24, 8, 0, tzinfo=UTC), datetime(2026, 11, 20, 16, 0, tzinfo=UTC)]
    assert pending(settings) == []
    assert agent.tick(now) == []  # nothing new: the slot already has its release


def test_empty_weekly_slot_is_not_released_nor_reread(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    attempts: list[bool] = []

    def empty_build(settings: object, *, cutoff: datetime, skip_empty: bool = False, **_: object) -> None:
        attempts.append(skip_empty)
        return

    monkeypatch.setattr(release_main, "build_and_announce", empty_build)
    monkeypatch.setattr(release_main, "store_for", lambda settings: SimpleNamespace(manifests=list))
    monkeypatch.setenv("ALSTREAM_PATHS__STATE_DIR", str(tmp_path))
    agent = release_main.ReleaseAgent(settings=load_settings())
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert agent.tick(now) == [] and agent.tick(now) == []
    assert attempts == [True]


def test_weekly_off_leaves_only_requests(built: list[datetime], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALSTREAM_RELEASE__WEEKLY", "false")
    agent = release_main.ReleaseAgent(settings=load_settings())
    assert agent.tick(datetime(2026, 11, 25, 12, 0, tzinfo=UTC)) == []


def test_unreadable_request_is_set_aside(built: list[datetime]) -> None:
    settings = load_settings()
    path = request_build(settings)
    path.write_text("not json")
    assert pending(settings) == []
    assert path.with_suffix(".bad").exists()
