"""Replaying dead letters to their source topics, after whatever made them fail was fixed.

Kafka Connect's convention: the original key, value and headers go back as they were, to the
partition they came from (so keyed state stays where its agent looks for it), with headers saying
which dead letter they replay (:mod:`alstream.dead_letters.letters`, ``alstream.replay.*``).

Replay is idempotent per dead letter: before sending, the source partitions are read from the
earliest failure time among the selected letters, and a letter whose replay header is already there
is reported as replayed, not sent again. The record on the topic is the receipt, so this holds
across operators and machines. (Two replays of the same letter started at the same moment can
still both send; agents process records idempotently by id, so that costs a duplicate, not a wrong
result.)

A dead letter that holds only a prefix of its original (too large to keep whole) is refused: its
bytes are not the record, and the message says where the whole record was.
"""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from alstream.dead_letters.exceptions import DeadLetterError
from alstream.dead_letters.letters import REPLAY_ERROR_CLASS, REPLAY_OF, REPLAY_TIME, DeadLetter
from alstream.dead_letters.reading import AUDIT_GROUP_PREFIX
from alstream.settings import AlstreamSettings
from alstream.streams.exceptions import BrokerError
from alstream.streams.kafka_config import consumer_config, producer_config
from alstream.streams.messages import Headers, coordinates, header_pairs, header_text
from alstream.streams.reading import TopicTail

REPLAYED = "replayed"
ALREADY_REPLAYED = "already replayed"
WOULD_REPLAY = "would replay"  # --dry-run
REFUSED = "refused"

# Records replayed just before a failure time's clock skew between hosts still count as receipts.
_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class ReplayOutcome:
    letter: DeadLetter
    outcome: str  # one of the constants above
    detail: str = ""


def refusal(letter: DeadLetter) -> str | None:
    """Why ``letter`` cannot be replayed as it is, or None."""
    if letter.record is None:
        return f"the dead letter itself cannot be read ({letter.decode_error})"
    truncation = letter.truncation
    if truncation is not None:
        where = (
            f"{letter.get('source_topic')}[{letter.get('source_partition')}]@{letter.get('source_offset')}"
        )
        return (
            "the dead letter holds only a prefix of the original "
            f"(value {truncation.get('value_size')} bytes, sha256 {truncation.get('value_sha256')}): "
            f"the whole record was at {where}; read it from "
            "there while retention keeps it and produce it again, then the agent takes it as new"
        )
    if letter.get("source_partition", -1) < 0:
        return (
            "it was refused before it was ever produced (no source partition): produce it again with the fix"
        )
    return None


def replay_headers(letter: DeadLetter, *, now_ms: int) -> Headers:
    """The original headers, then the replay's own."""
    return [
        *letter.original_headers,
        (REPLAY_OF, letter.replay_tag.encode()),
        (REPLAY_TIME, str(now_ms).encode()),
        (REPLAY_ERROR_CLASS, str(letter.get("error_class", "")).encode()),
    ]


def replayed_tags(
    settings: AlstreamSettings, letters: list[DeadLetter], *, timeout_s: float = 120.0
) -> set[str]:
    """Replay tags already present on the source partitions of ``letters`` (read from the earliest
    failure time among them, to the end)."""
    wanted: dict[tuple[str, int], datetime | None] = {}
    for letter in letters:
        key = (letter.get("source_topic"), letter.get("source_partition"))
        failed_at = letter.failed_at
        earlier = wanted.get(key, failed_at)
        wanted[key] = min(failed_at, earlier) if failed_at and earlier else None
    if not wanted:
        return set()
    consumer = Consumer(
        consumer_config(
            settings,
            group_id=f"{AUDIT_GROUP_PREFIX}replay-check-{uuid.uuid4().hex[:12]}",
            **{"enable.auto.commit": False},
        )
    )
    try:  # where to start: the earliest failure time, less the clock skew between hosts
        starts: dict[tuple[str, int], int] = {}
        for (topic, partition), since in wanted.items():
            starts[(topic, partition)] = OFFSET_BEGINNING
            if since is not None:
                millis = int((since - _CLOCK_SKEW).timestamp() * 1000)
                (found,) = consumer.offsets_for_times([TopicPartition(topic, partition, millis)], timeout=10)
                if found.offset >= 0:
                    starts[(topic, partition)] = found.offset
    finally:
        consumer.close()
    tags: set[str] = set()

    def note(messages: list[Message]) -> None:
        for message in messages:
            for name, raw in header_pairs(message.headers()):
                if name == REPLAY_OF:
                    tags.add(header_text(raw))

    tail = TopicTail(settings=settings, start=starts, agent="dead-letters", patience_s=timeout_s)
    try:
        tail.catch_up(note)
    except BrokerError as exc:
        raise DeadLetterError(f"checking earlier replays: {exc}: nothing was sent") from exc
    finally:
        tail.close()
    return tags


def replay(
    settings: AlstreamSettings, letters: list[DeadLetter], *, dry_run: bool = False, timeout_s: float = 60.0
) -> list[ReplayOutcome]:
    """Send every replayable letter back to its source partition, once; say what happened to each."""
    outcomes: dict[str, ReplayOutcome] = {}
    candidates = []
    for letter in letters:
        why = refusal(letter)
        if why is not None:
            outcomes[letter.id] = ReplayOutcome(letter, REFUSED, why)
        else:
            candidates.append(letter)
    done = replayed_tags(settings, candidates)
    to_send = []
    for letter in candidates:
        if letter.replay_tag in done:
            outcomes[letter.id] = ReplayOutcome(letter, ALREADY_REPLAYED, "its replay is on the source topic")
        elif dry_run:
            outcomes[letter.id] = ReplayOutcome(letter, WOULD_REPLAY)
        else:
            to_send.append(letter)
    if to_send:
        landed = _send(settings, to_send, timeout_s=timeout_s)
        for letter in to_send:
            where = landed[letter.id]
            outcomes[letter.id] = ReplayOutcome(
                letter, REPLAYED if where.startswith("to ") else REFUSED, where
            )
    return [outcomes[letter.id] for letter in letters]


def _send(settings: AlstreamSettings, letters: list[DeadLetter], *, timeout_s: float) -> dict[str, str]:
    """letter id -> "to topic[partition]@offset" where it landed, or "failed: <why>"."""
    producer = Producer(producer_config(settings))
    results: dict[str, str] = defaultdict(lambda: "failed: not acknowledged in time")
    now_ms = int(time.time() * 1000)

    def delivered_for(letter_id: str):  # type: ignore[no-untyped-def]
        def delivered(err: KafkaError | None, message: object) -> None:
            if err is not None:
                results[letter_id] = f"failed: {err}"
            else:
                topic, partition, offset = coordinates(message)  # type: ignore[arg-type]
                results[letter_id] = f"to {topic}[{partition}]@{offset}"

        return delivered

    try:
        for letter in letters:
            producer.produce(
                letter.get("source_topic"),
                value=letter.get("original_value"),
                key=letter.get("original_key"),
                partition=letter.get("source_partition"),
                headers=replay_headers(letter, now_ms=now_ms),
                on_delivery=delivered_for(letter.id),
            )
            producer.poll(0)
    except (KafkaException, BufferError) as exc:
        raise DeadLetterError(f"replaying failed while sending: {exc}") from exc
    producer.flush(timeout_s)
    return {letter.id: results[letter.id] for letter in letters}
