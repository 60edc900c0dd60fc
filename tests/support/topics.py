"""Reading what agents wrote, from a test: whole topics as raw messages, and dead letters.

Plain confluent-kafka (an assigned reader, no group, nothing committed) so a test checks the topics
with a client of its own rather than with the code under test.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Message, Producer

from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.kafka_config import consumer_config, producer_config
from tests.support.to_the_end import read_topic_to_end


def read_messages(settings: Any, base_name: str, *, timeout_s: float = 30.0) -> list[Message]:
    """Every message of a catalogue topic up to its end now (the end is a fetch's partition-EOF)."""
    config = consumer_config(settings, group_id=f"test-reader-{uuid.uuid4().hex[:8]}")
    return read_topic_to_end(config, settings.kafka.topic(base_name), timeout_s=timeout_s)


@dataclass(frozen=True)
class Coordinates:
    topic: str
    partition: int
    offset: int


def produce_raw(
    settings: Any,
    base_name: str,
    value: bytes | None,
    *,
    key: bytes | str | None = None,
    partition: int | None = None,
    **config: Any,
) -> Coordinates:
    """Produce one record exactly as given (``config`` overrides the producer's, e.g. its size limit)
    and return where it landed."""
    producer = Producer(producer_config(settings, **config))
    landed: list[Any] = []
    kwargs: dict[str, Any] = {
        "value": value,
        "key": key,
        "on_delivery": lambda err, msg: landed.append((err, msg)),
    }
    if partition is not None:
        kwargs["partition"] = partition
    producer.produce(settings.kafka.topic(base_name), **kwargs)
    assert producer.flush(60) == 0, "record not acknowledged"
    err, message = landed[0]
    assert err is None, err
    return Coordinates(message.topic(), message.partition(), message.offset())


def dead_letters(settings: Any) -> list[dict[str, Any]]:
    """Every dead letter, decoded (the current schema), with the record's own size added."""
    codec = SingleObjectCodec("dead-letters")
    out = []
    for message in read_messages(settings, "dead-letters"):
        record = codec.decode(message.value())
        record["_size"] = len(message.value() or b"") + len(message.key() or b"")
        out.append(record)
    return out


def dead_letters_for(settings: Any, where: Coordinates, *, agent: str) -> list[dict[str, Any]]:
    """Every dead letter ``agent`` wrote for the record at ``where``."""
    return [
        record
        for record in dead_letters(settings)
        if record["agent"] == agent
        and record["source_topic"] == where.topic
        and record["source_partition"] == where.partition
        and record["source_offset"] == where.offset
    ]


def dead_letter_for(settings: Any, where: Coordinates, *, agent: str) -> dict[str, Any] | None:
    found = dead_letters_for(settings, where, agent=agent)
    return found[0] if found else None
