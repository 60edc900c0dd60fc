"""Topic retention, simulated: the embedded broker keeps every record forever (and Tansu 0.6 drops the
connection on DeleteRecords), so tests read through a reader that hides what retention would have
deleted by a given time, per the topic catalogue (``alstream.streams.topics``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from confluent_kafka import Message

from alstream.contracts.times import to_ms
from alstream.streams.reading import TopicTail
from alstream.streams.topics import CATALOGUE


def expiring_reader(*, prefix: str, now: datetime) -> Callable[..., TopicTail]:
    """A :class:`TopicTail` class whose reads skip records older than their topic's retention at
    ``now`` (by record timestamp), leaving offset gaps as a broker's deletion does."""
    now_ms = to_ms(now)
    retention = {prefix + spec.base_name: spec.retention_ms for spec in CATALOGUE}

    class ExpiringTail(TopicTail):
        hidden = 0

        def poll(self, **kwargs: Any) -> list[Message]:
            kept = []
            for message in super().poll(**kwargs):
                keep_ms = retention.get(message.topic() or "", -1)
                _, timestamp_ms = message.timestamp()
                if keep_ms > 0 and timestamp_ms < now_ms - keep_ms:
                    ExpiringTail.hidden += 1
                    continue
                kept.append(message)
            return kept

    return ExpiringTail
