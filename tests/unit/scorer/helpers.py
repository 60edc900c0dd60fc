"""Builders for scorer unit tests: items as Kafka messages, outputs backed by the in-memory producer."""

from __future__ import annotations

from typing import Any

import numpy as np

from alstream.streams.batch_loop import Outputs
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.dead_letters import DeadLetterSink
from alstream.streams.testing import InMemoryMessage, InMemoryProducer

ITEMS = SingleObjectCodec("items")


def item_message(
    item_id: str,
    *,
    topic: str,
    embedding: np.ndarray,
    probabilities: np.ndarray | None = None,
    partition: int = 0,
    offset: int = 0,
    unit: str = "ITEM",
    hardness: dict[str, Any] | None = None,
) -> InMemoryMessage:
    record = {
        "item_id": item_id,
        "source": "test",
        "unit_of_work": unit,
        "embedding": np.asarray(embedding, dtype="<f4").tobytes(),
        "probabilities": None if probabilities is None else np.asarray(probabilities, dtype="<f4").tobytes(),
        "hardness": hardness,
        "event_time": 1_764_000_000_000,
    }
    return InMemoryMessage(topic, ITEMS.encode(record), item_id.encode(), partition, offset)


def outputs() -> tuple[Outputs, InMemoryProducer]:
    producer = InMemoryProducer()
    sink = DeadLetterSink(producer=producer, topic="t.dead-letters", agent="scorer")
    return Outputs(producer=producer, dead_letters=sink), producer  # type: ignore[arg-type]
