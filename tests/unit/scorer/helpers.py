"""Builders for scorer unit tests: items as Kafka messages, outputs backed by the in-memory producer, and
the hypothesis strategy of Item records (plus a corruption helper) the decoder tests share."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.batch_loop import Outputs
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.dead_letters import DeadLetterSink
from alstream.streams.testing import InMemoryMessage, InMemoryProducer

ITEMS = SingleObjectCodec("items")

item_records = st.fixed_dictionaries(
    {
        "item_id": st.text(
            min_size=1, max_size=80
        ),  # up to 320 UTF-8 bytes: one- and two-byte length prefixes
        "source": st.text(max_size=40),
        "unit_of_work": st.sampled_from(["ITEM", "OBJECT", "REGION", "PIXEL_MASK"]),
        "parent_id": st.one_of(st.none(), st.text(max_size=40)),
        "embedding": st.binary(max_size=600),
        "probabilities": st.one_of(st.none(), st.binary(max_size=80)),
        "hardness": st.one_of(
            st.none(),
            st.fixed_dictionaries(
                {
                    "object_hardness": st.binary(max_size=16),
                    "pixel_mean_uncertainty": st.one_of(st.none(), st.floats(0, 1, width=32)),
                    "pixel_uncertain_fraction": st.one_of(st.none(), st.floats(0, 1, width=32)),
                }
            ),
        ),
        "uri": st.one_of(st.none(), st.text(max_size=50)),
        "metadata": st.one_of(
            st.just({}), st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4)
        ),
        # Any time a reader can turn back into a date (the codec refuses the rest).
        "event_time": st.integers(-62_135_596_800_000, 253_402_300_799_999),
    }
)


def corrupt(data: bytes, *, where: int, xor: int, truncate: bool) -> bytes:
    """``data`` cut at, or with one byte flipped at, a position past the 10-byte single-object header."""
    out = bytearray(data)
    at = 10 + where % (len(out) - 10)
    if truncate:
        return bytes(out[:at])
    out[at] ^= xor
    return bytes(out)


def item_message(
    item_id: str,
    *,
    topic: str,
    embedding: np.ndarray,
    probabilities: np.ndarray | None = None,
    partition: int = 0,
    offset: int = 0,
    unit: str = "ITEM",
    parent_id: str | None = None,
    hardness: dict[str, Any] | None = None,
) -> InMemoryMessage:
    record = {
        "item_id": item_id,
        "source": "test",
        "unit_of_work": unit,
        "parent_id": parent_id,
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


CLASSES = ["a", "b", "c"]
DIM = 4


def scorer_settings(state_dir: Any) -> AlstreamSettings:
    """Settings for in-memory scorer tests: three classes, 4-dim embeddings, topics prefixed ``t.``."""
    return load_settings(
        kafka={"topic_prefix": "t."},
        task={"classes": CLASSES},
        metrics={"port": 0},
        ingest={"embedding_dim": DIM},
        paths={"state_dir": state_dir},
    )


class Clock:
    """A clock the test moves by hand (windows close when it passes their end)."""

    def __init__(self) -> None:
        self.now = 1_764_000_100.0  # just after the items' event_time (the contract refuses future ones)

    def __call__(self) -> float:
        return self.now
