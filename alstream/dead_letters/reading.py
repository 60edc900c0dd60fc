"""Reading the dead-letter topic: everything up to now, or following it as letters arrive.

Both read assigned partitions rather than subscribing, through throwaway groups that never commit
(the streams readers' ``<client_id>-reader-`` groups for reading to the end, ``alstream-audit-`` ones
for following; the operator's ACL grants both prefixes): looking at dead letters changes nothing for
anyone else.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from alstream.dead_letters.exceptions import DeadLetterError
from alstream.dead_letters.filters import Filter
from alstream.dead_letters.letters import DeadLetter, dead_letter_of
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import RecordCodec, SingleObjectCodec
from alstream.streams.kafka_config import consumer_config
from alstream.streams.reading import end_offsets, read_to_end

AUDIT_GROUP_PREFIX = "alstream-audit-"


def _consumer(settings: AlstreamSettings) -> Consumer:
    return Consumer(
        consumer_config(
            settings,
            group_id=f"{AUDIT_GROUP_PREFIX}dead-letters-{uuid.uuid4().hex[:12]}",
            **{"enable.auto.commit": False, "enable.auto.offset.store": False},
        )
    )


def _partitions(consumer: Consumer, topic: str) -> list[int]:
    metadata = consumer.list_topics(topic, timeout=15)
    found = metadata.topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise DeadLetterError(
            f"dead-letter topic {topic} not found ({found.error if found else 'no metadata'}): "
            "run `alstream topics create`"
        )
    return sorted(found.partitions)


def _true_ends(settings: AlstreamSettings, consumer: Consumer, topic: str) -> dict[int, int]:
    """partition -> end offset as a reader finds it (the embedded broker under-reports the listed end)."""
    wanted = [(topic, partition) for partition in _partitions(consumer, topic)]
    return {
        partition: end for (_, partition), end in end_offsets(settings, wanted, agent="dead-letters").items()
    }


def _next_letters(
    consumer: Consumer, topic: str, codec: RecordCodec, *, max_messages: int
) -> list[DeadLetter]:
    """One poll's dead letters (partition-EOF events skipped; any other consumer error raised)."""
    letters = []
    for message in consumer.consume(max_messages, 0.5):
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                continue
            raise DeadLetterError(f"reading {topic}: {error}")
        letters.append(dead_letter_of(message, codec))
    return letters


def read_dead_letters(
    settings: AlstreamSettings, selection: Filter | None = None, *, timeout_s: float = 120.0
) -> list[DeadLetter]:
    """Every dead letter up to the topic's end when called that ``selection`` matches, oldest first
    per partition."""
    selection = selection or Filter()
    topic = settings.kafka.topic("dead-letters")
    codec = SingleObjectCodec("dead-letters")
    found: list[DeadLetter] = []

    def keep(messages: list[Message]) -> None:
        for message in messages:
            letter = dead_letter_of(message, codec)
            if selection.matches(letter):
                found.append(letter)

    read_to_end(settings, [topic], keep, agent="dead-letters", patience_s=timeout_s)
    return found


def follow_dead_letters(
    settings: AlstreamSettings,
    selection: Filter | None = None,
    *,
    from_beginning: bool = False,
    keep_going: Callable[[], bool] = lambda: True,
) -> Iterator[DeadLetter]:
    """Dead letters as they arrive (after the current end, or from the beginning), while ``keep_going()``."""
    selection = selection or Filter()
    topic = settings.kafka.topic("dead-letters")
    codec = SingleObjectCodec("dead-letters")
    consumer = _consumer(settings)
    try:
        if from_beginning:
            consumer.assign(
                [TopicPartition(topic, p, OFFSET_BEGINNING) for p in _partitions(consumer, topic)]
            )
        else:
            consumer.assign(
                [TopicPartition(topic, p, end) for p, end in _true_ends(settings, consumer, topic).items()]
            )
        while keep_going():
            for letter in _next_letters(consumer, topic, codec, max_messages=500):
                if selection.matches(letter):
                    yield letter
    finally:
        consumer.close()
