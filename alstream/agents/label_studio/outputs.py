"""Where rejected annotations go: the dead-letter topic, through the one dead-letter mechanism.

An annotation has no source topic, partition or offset; its dead letter names ``label-studio`` as the
source and carries the task and annotation as JSON (cut to a size that always fits).
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from alstream.agents.label_studio.exceptions import LabelStudioError
from alstream.settings import AlstreamSettings
from alstream.streams.dead_letters import DeadLetterSink
from alstream.streams.kafka_config import producer_config


class KafkaDeadLetters:
    def __init__(self, settings: AlstreamSettings, *, agent: str, source: str) -> None:
        self._producer = Producer(producer_config(settings))
        self._sink = DeadLetterSink(
            producer=self._producer, topic=settings.kafka.topic("dead-letters"), agent=agent
        )
        self._source = source
        self._failures: list[str] = []

    def _delivered(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self._failures.append(str(err))

    def send(self, *, key: str, value: bytes, error: BaseException) -> None:
        self._sink.send(
            key=key, value=value, source_topic=self._source, error=error, on_delivery=self._delivered
        )
        self._producer.poll(0)

    def flush(self, timeout_s: float = 30.0) -> None:
        left = self._producer.flush(timeout_s)
        if left or self._failures:
            failures, self._failures = self._failures[:3], []
            raise LabelStudioError(f"{left} dead letters unacknowledged, errors: {failures}")

    def close(self) -> Any:
        return self._producer.flush(10)
