"""What the model said about each candidate (top class, confidence, embedding), for failure detection
and for spreading calibration examples across classes. Filled from a tail of the candidates topic.

A candidate that breaks the candidate contract (:mod:`alstream.contracts.candidates`; the router
refuses it too) is not indexed: its embedding would join the known-failures bank."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from alstream.contracts.candidates import CandidateRules
from alstream.observability.metrics import AGENT_ERRORS
from alstream.streams.bounded import BoundedMap
from alstream.streams.codecs import RecordCodec
from alstream.streams.decoding import decode_into

log = logging.getLogger(__name__)


class CandidateIndex:
    def __init__(
        self,
        *,
        codec: RecordCodec,
        agent: str,
        max_size: int,
        rules: CandidateRules | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.codec = codec
        self.agent = agent
        self.rules = rules
        self.clock = clock
        self._by_item: BoundedMap[str, dict[str, Any]] = BoundedMap(max_size=max_size)

    def add(self, record: dict[str, Any]) -> None:
        if self.rules is not None:
            violation = self.rules.verdict(record, now_ms=int(self.clock() * 1000))
            if violation is not None:
                AGENT_ERRORS.labels(self.agent, violation.reason).inc()
                log.warning("%s: candidate refused (%s): %s", self.agent, violation.reason, violation)
                return
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
