"""The weekly cadence: the latest scheduled cut-off at or before a moment, in the configured zone.

The cut-off *is* the release's ``created_at``; rebuilding the same slot later gives the same bytes
because only labels submitted up to the cut-off are taken.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from alstream.agents.release.config import WEEKDAYS, ReleaseSettings


def latest_slot(config: ReleaseSettings, now: datetime) -> datetime:
    """The most recent weekly cut-off not after ``now`` (UTC, tz-aware)."""
    zone = ZoneInfo(config.timezone)
    local = now.astimezone(zone)
    hour, minute = (int(part) for part in config.time_of_day.split(":"))
    days_back = (local.weekday() - WEEKDAYS.index(config.weekday)) % 7
    day = (local - timedelta(days=days_back)).date()
    slot = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
    if slot > local:
        previous = day - timedelta(days=7)
        slot = datetime(previous.year, previous.month, previous.day, hour, minute, tzinfo=zone)
    return slot.astimezone(UTC)


def next_slot(config: ReleaseSettings, now: datetime) -> datetime:
    """The first weekly cut-off strictly after ``now``."""
    zone = ZoneInfo(config.timezone)
    candidate = latest_slot(config, now).astimezone(zone)
    following = candidate.date() + timedelta(days=7)
    return datetime(
        following.year, following.month, following.day, candidate.hour, candidate.minute, tzinfo=zone
    ).astimezone(UTC)
