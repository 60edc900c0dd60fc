"""`alstream release build|list` as a user or a script calls them (no cluster needed for these paths)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alstream.agents.release.service import store_for
from alstream.cli.commands.release import _cutoff
from alstream.cli.main import app
from alstream.exceptions import ConfigError
from alstream.settings import load_settings

RELEASE_IDS = ("20261120T160000Z-3f9a2c1d4b5e6f70", "20261127T160000Z-0a1b2c3d4e5f6a7b")


@pytest.fixture
def stored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    monkeypatch.setenv("ALSTREAM_PATHS__STATE_DIR", str(tmp_path))
    store = store_for(load_settings())
    for number, release_id in enumerate(RELEASE_IDS):
        manifest = {
            "release_id": release_id,
            "created_at": f"2026-11-{20 + 7 * number}T16:00:00Z",
            "parent_release_id": RELEASE_IDS[0] if number else None,
            "item_count": 10 * (number + 1),
            "added_label_count": 10,
            "qa_error_rate": 0.1,
            "agreement": 0.8,
            "validation_metric": 0.9,
        }
        store.write(release_id, {"manifest.json": json.dumps(manifest).encode()})
    return list(RELEASE_IDS)


def test_a_cutoff_in_the_future_is_refused() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert _cutoff("2026-11-27T11:00:00Z", now=now) == datetime(2026, 11, 27, 11, 0, tzinfo=UTC)
    assert _cutoff(None, now=now) == now
    with pytest.raises(ConfigError, match="in the future"):
        _cutoff("2026-12-01T00:00:00Z", now=now)


def test_build_with_a_future_cutoff_exits_2_before_touching_a_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("alstream.cli.commands.release.cluster_settings_from", lambda ctx: load_settings())
    result = CliRunner().invoke(app, ["release", "build", "--cutoff", "2999-01-01T00:00:00Z"])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError) and "in the future" in str(result.exception)


def test_list_shows_whole_ids_when_not_on_a_terminal(stored: list[str]) -> None:
    result = CliRunner().invoke(app, ["release", "list"])  # CliRunner's output is not a terminal
    assert result.exit_code == 0, result.output
    for release_id in stored:
        assert release_id in result.output


def test_list_json_is_the_manifests(stored: list[str]) -> None:
    result = CliRunner().invoke(app, ["release", "list", "--json"])
    assert result.exit_code == 0, result.output
    manifests = json.loads(result.output)
    assert [m["release_id"] for m in manifests] == stored
    assert manifests[1]["parent_release_id"] == stored[0]
