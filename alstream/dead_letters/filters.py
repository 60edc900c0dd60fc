"""Which dead letters an operator means: by agent, source topic, error class, time and id."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from alstream.dead_letters.exceptions import BadFilter
from alstream.dead_letters.letters import DeadLetter

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """An ISO-8601 time (UTC unless it says otherwise) or an age such as ``30m``, ``6h``, ``7d``."""
    now = now or datetime.now(UTC)
    relative = _RELATIVE.match(text.strip())
    if relative:
        return now - timedelta(**{_UNITS[relative[2]]: float(relative[1])})
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadFilter(
            f"{text!r} is neither an ISO-8601 time (2026-11-27T16:00:00Z) nor an age (30m, 6h, 7d)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_id(text: str) -> tuple[int, int]:
    """``partition:offset`` on the dead-letter topic, as ``list`` shows it."""
    partition, sep, offset = text.partition(":")
    if not sep or not partition.isdigit() or not offset.isdigit():
        raise BadFilter(f"dead-letter id {text!r} is not partition:offset (e.g. 0:42), as `list` shows it")
    return int(partition), int(offset)


@dataclass(frozen=True)
class Filter:
    """All given conditions must hold; an empty filter selects everything."""

    agents: frozenset[str] = frozenset()
    source_topics: frozenset[str] = frozenset()  # full topic names (the prefix applied)
    error_classes: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None
    ids: frozenset[tuple[int, int]] = frozenset()

    @property
    def empty(self) -> bool:
        return not (
            self.agents or self.source_topics or self.error_classes or self.since or self.until or self.ids
        )

    def matches(self, letter: DeadLetter) -> bool:
        if self.ids and (letter.partition, letter.offset) not in self.ids:
            return False
        if self.agents and letter.get("agent") not in self.agents:
            return False
        if self.source_topics and letter.get("source_topic") not in self.source_topics:
            return False
        if self.error_classes and letter.get("error_class") not in self.error_classes:
            return False
        failed_at = letter.failed_at
        if self.since and (failed_at is None or failed_at < self.since):
            return False
        return not (self.until and (failed_at is None or failed_at > self.until))

    def select(self, letters: Iterable[DeadLetter]) -> list[DeadLetter]:
        return [letter for letter in letters if self.matches(letter)]
