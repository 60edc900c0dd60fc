"""Settings section ``[release]`` (env ``ALSTREAM_RELEASE__*``), owned by the ML owner."""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from alstream.config_base import Section, group_id_field

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class ReleaseSettings(Section):
    """Where releases go, when the weekly one is cut, and when an item needs adjudication."""

    group_id: str = group_id_field("alstream-release")
    root_uri: str | None = Field(
        default=None,
        description="Directory or object-store URI (s3://, gs://) holding releases; "
        "default <state_dir>/releases.",
    )
    weekday: str = Field(
        default="friday", description="Day of the weekly release (the guide's Friday snapshot)."
    )
    time_of_day: str = Field(default="16:00", description="HH:MM of the weekly release cut-off.")
    timezone: str = Field(default="UTC", description="IANA time zone of weekday / time_of_day.")
    weekly: bool = Field(
        default=True, description="Cut the weekly release; off leaves only on-demand builds."
    )
    min_agreement: float = Field(
        default=0.67,
        gt=0.0,
        le=1.0,
        description="An overlapped item whose majority share is below this is flagged for adjudication.",
    )
    model_name: str = Field(
        default="default", description="Model line whose validation metric the manifest records."
    )
    poll_interval_s: float = Field(
        default=5.0, gt=0, description="How often the agent checks schedule and requests."
    )

    @field_validator("weekday")
    @classmethod
    def _weekday(cls, value: str) -> str:
        if value.lower() not in WEEKDAYS:
            raise ValueError(f"must be one of {', '.join(WEEKDAYS)}")
        return value.lower()

    @field_validator("time_of_day")
    @classmethod
    def _time(cls, value: str) -> str:
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", value)
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            raise ValueError("must be HH:MM, e.g. 16:00")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Paris)") from None
        return value
