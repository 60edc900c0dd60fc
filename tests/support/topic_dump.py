"""Read a whole topic, from the beginning up to its current end: the fault campaign's checker and the
Label Studio tests account for every record this way."""

from __future__ import annotations

from confluent_kafka import Message

from alstream.settings import AlstreamSettings
from alstream.streams.reading import read_to_end


def dump(settings: AlstreamSettings, base: str, *, timeout_s: float = 60.0) -> list[Message]:
    """Every message of ``base`` present when the call started (all partitions), read to the end a
    reader finds (the broker's ListOffsets answer can stop short of it)."""
    out: list[Message] = []
    read_to_end(settings, [settings.kafka.topic(base)], out.extend, agent="checker", patience_s=timeout_s)
    return out
