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
    monkeypatch.setattr(
        release_main,
        "store_for",
        lambda settings: SimpleNamespace(manifests=lambda: stored, release_ids=set),
    )
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
    monkeypatch.setattr(
        release_main, "store_for", lambda settings: SimpleNamespace(manifests=list, release_ids=set)
    )
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


def _sample(name: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name) or 0.0


def test_releases_stored_by_another_process_reach_the_metrics(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`alstream release build` stores releases from its own process; the agent reports them."""
    import json

    from alstream.agents.release.service import store_for

    monkeypatch.setenv("ALSTREAM_PATHS__STATE_DIR", str(tmp_path))
    monkeypatch.setenv("ALSTREAM_RELEASE__WEEKLY", "false")
    settings = load_settings()
    store = store_for(settings)

    def store_release(release_id: str, created_at: str, items: int) -> None:  # what the CLI's build leaves
        manifest = {"release_id": release_id, "created_at": created_at, "item_count": items}
        store.write(release_id, {"manifest.json": json.dumps(manifest).encode()})

    store_release("20261101T000000Z-aaaa", "2026-11-01T00:00:00Z", 5)
    agent = release_main.ReleaseAgent(settings=settings)
    before = _sample("alstream_releases_total")
    agent.tick(datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    assert _sample("alstream_releases_total") == before  # already there at start: the baseline
    assert _sample("alstream_release_items") == 5

    store_release("20261124T000000Z-bbbb", "2026-11-24T00:00:00Z", 12)
    agent.tick(datetime(2026, 11, 25, 12, 1, tzinfo=UTC))
    assert _sample("alstream_releases_total") == before + 1
    assert _sample("alstream_release_items") == 12
    assert _sample("alstream_release_last_timestamp_seconds") == pytest.approx(
        store.stored_at("20261124T000000Z-bbbb")
    )
