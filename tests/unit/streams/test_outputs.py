"""The batch loop's Outputs: back-pressure loses nothing, a failed delivery fails the batch."""

from __future__ import annotations

from typing import Any

import pytest

from alstream.streams.batch_loop import DeliveryFailed, Outputs
from alstream.streams.testing import InMemoryProducer, in_memory_outputs


class FullQueueProducer(InMemoryProducer):
    """Raises BufferError while ``limit`` deliveries are unserved, like librdkafka's full local queue."""

    limit: int = 3
    refusals: int = 0

    def produce(
        self, topic: str, value: bytes | None = None, key: Any = None, *args: Any, **kwargs: Any
    ) -> None:
        if len(self._pending) >= self.limit:
            self.refusals += 1
            raise BufferError("Local: Queue full")
        super().produce(topic, value, key, *args, **kwargs)


def outputs_for(producer: InMemoryProducer) -> Outputs:
    return in_memory_outputs(agent="t", dead_letter_topic="dlq", producer=producer)[0]


def test_produce_many_waits_out_a_full_queue_and_keeps_order() -> None:
    producer = FullQueueProducer()
    outputs = outputs_for(producer)
    keys = [f"k{i}" for i in range(10)]
    outputs.produce_many("scores", keys, [k.encode() for k in keys])
    outputs.wait_delivered(1)
    assert producer.refusals > 0
    assert [m.key() for m in producer.topics["scores"]] == [k.encode() for k in keys]
    assert producer.values("scores") == [k.encode() for k in keys]


def test_a_failed_delivery_fails_the_batch() -> None:
    producer = InMemoryProducer(refuse=lambda message: "broker said no" if message.key() == b"b" else None)
    outputs = outputs_for(producer)
    outputs.produce_many("scores", ["a", "b"], [b"1", b"2"])
    with pytest.raises(DeliveryFailed, match="broker said no"):
        outputs.wait_delivered(1)
    outputs.wait_delivered(1)  # the failure was reported once; the next batch starts clean
