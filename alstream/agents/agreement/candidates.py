"""What the model said about each candidate (top class, confidence, embedding), for failure detection
and for spreading calibration examples across classes. Filled from a tail of the candidates topic."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from alstream.agents.labels.topic_state import BoundedMap
from alstream.observability.metrics import AGENT_ERRORS
from alstream.streams.codecs import RecordCodec
from alstream.streams.exceptions import DecodeError

log = logging.getLogger(__name__)


class CandidateIndex:
    def __init__(self, *, codec: RecordCodec, agent: str, max_size: int) -> None:
        self.codec = codec
        self.agent = agent
        self._by_item: BoundedMap[str, dict[str, Any]] = BoundedMap(max_size=max_size)

    def add(self, record: dict[str, Any]) -> None:
        self._by_item[record["item_id"]] = {
            "predicted_class": record.get("predicted_class"),
            "confidence": record.get("confidence"),
            "embedding": record.get("embedding"),
            "model_version": record.get("model_version"),
            "policy_version": record.get("policy_version"),
        }

    def ingest(self, messages: Iterable[Any]) -> int:
        added = 0
        for message in messages:
            try:
                self.add(self.codec.decode(message.value()))
                added += 1
            except DecodeError as exc:
                AGENT_ERRORS.labels(self.agent, type(exc).__name__).inc()
                log.warning("%s: undecodable candidate: %s", self.agent, exc)
        return added

    def get(self, item_id: str) -> dict[str, Any] | None:
        return self._by_item.get(item_id)
