"""The weekly cut-off: Friday by default, configurable day, time and zone; bad settings fail clearly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alstream.agents.release.config import ReleaseSettings
from alstream.agents.release.schedule import latest_slot, next_slot
from alstream.exceptions import ConfigError
from alstream.settings import load_settings


def test_default_is_friday_afternoon_utc() -> None:
    config = ReleaseSettings()
    wednesday = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert latest_slot(config, wednesday) == datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
    assert next_slot(config, wednesday) == datetime(2026, 11, 27, 16, 0, tzinfo=UTC)


def test_slot_boundary_is_inclusive() -> None:
    config = ReleaseSettings()
    at = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
    assert latest_slot(config, at) == at
    assert latest_slot(config, at.replace(minute=0, hour=15)) == datetime(2026, 11, 20, 16, 0, tzinfo=UTC)


def test_day_time_and_zone_are_configurable() -> None:
    config = ReleaseSettings(weekday="monday", time_of_day="09:30", timezone="Europe/Paris")
    slot = latest_slot(config, datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
    assert slot == datetime(2026, 11, 23, 8, 30, tzinfo=UTC)  # 09:30 CET


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("ALSTREAM_RELEASE__WEEKDAY", "funday"),
        ("ALSTREAM_RELEASE__TIME_OF_DAY", "25:00"),
        ("ALSTREAM_RELEASE__TIMEZONE", "Mars/Olympus"),
    ],
)
def test_bad_cadence_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=env):
        load_settings()
