"""Where rejected annotations go: the dead-letter topic, through the agent runtime's dead-letter sink.

An annotation has no source topic, partition or offset; its dead letter names ``label-studio`` as the
source and carries the task and annotation as JSON (cut to a size that always fits).
"""

from __future__ import annotations

from typing import Protocol

from confluent_kafka import KafkaError, Message

from alstream.agents.label_studio.exceptions import LabelStudioError
from alstream.streams.dead_letters import DeadLetterSink


class Flushable(Protocol):
    def flush(self, timeout: float = ...) -> int: ...
    def poll(self, timeout: float = ...) -> int: ...


class KafkaDeadLetters:
    """The bridge's dead letters on the runtime's sink; :meth:`flush` says whether the broker took them
    (the bridge records an annotation as handled only after its dead letter was acknowledged)."""

    def __init__(self, *, sink: DeadLetterSink, producer: Flushable, source: str) -> None:
        self._sink = sink
        self._producer = producer
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
