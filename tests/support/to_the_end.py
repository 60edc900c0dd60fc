"""Reading a whole topic to its end with a plain confluent-kafka consumer, the way a test checks what
agents wrote with a client of its own (no alstream code, so the code under test is not its own judge).

The end is where a fetch reports partition-EOF: a ListOffsets answer can fall short of it on the
embedded broker (docs/embedded-broker.md).
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from tests.support.waiting import wait_until


def read_topic_to_end(config: dict[str, Any], topic: str, *, timeout_s: float = 30.0) -> list[Message]:
    """Every message of ``topic``, partition by partition in offset order, read by a consumer built from
    ``config`` (plus no commits and partition-EOF events) that assigns itself every partition."""
    consumer = Consumer(config | {"enable.auto.commit": False, "enable.partition.eof": True})
    try:
        partitions = sorted(consumer.list_topics(topic, timeout=10).topics[topic].partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        pending, out = set(partitions), []

        def at_the_end() -> bool:
            for message in consumer.consume(1000, 0.2):
                error = message.error()
                if error is None:
                    out.append(message)
                elif error.code() == KafkaError._PARTITION_EOF:
                    pending.discard(message.partition())
            return not pending

        wait_until(
            at_the_end,
            timeout_s=timeout_s,
            interval_s=0,  # consume() itself waits for records
            what=f"{topic} read to its end",
            diagnose=lambda: f"partitions not at their end: {sorted(pending)}",
        )
        return out
    finally:
        consumer.close()
