"""What the model said about each candidate (top class, confidence, embedding), for failure detection
and for spreading calibration examples across classes. Filled from a tail of the candidates topic."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from alstream.streams.bounded import BoundedMap
from alstream.streams.codecs import RecordCodec
from alstream.streams.decoding import decode_into


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
        return decode_into(messages, codec=self.codec, add=self.add, agent=self.agent, what="candidate")

    def get(self, item_id: str) -> dict[str, Any] | None:
        return self._by_item.get(item_id)
