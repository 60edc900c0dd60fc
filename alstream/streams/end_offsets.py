"""The end of a partition as a reader finds it, not as the broker's ListOffsets answer claims it.

Why this exists: the embedded broker (Tansu 0.6.0) answers ListOffsets(latest) with the base offset of
the partition's last record batch plus one. After one produce request of 10 records into an empty
partition it says the end is 1, not 10 (measured; see tests/integration/streams/test_end_offsets.py).
Anything that reads "to the end" by that answer stops early. For faust that meant table recovery
stopped after the first changelog batch: a router killed after pooling candidates restarted with most
of its pool gone. A fetch, though, reports the true high watermark, and reaching it raises a
partition-EOF event; so the end is the larger of the listed end and where a reader starting there
hits EOF. On a correct broker the reader hits EOF at once and the answer is the listed end.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping

from confluent_kafka import Consumer, KafkaError, TopicPartition

from alstream.settings import AlstreamSettings
from alstream.streams.exceptions import BrokerError
from alstream.streams.kafka_config import consumer_config
from alstream.streams.messages import coordinates

log = logging.getLogger(__name__)

Partition = tuple[str, int]


def read_end_offsets(
    settings: AlstreamSettings, listed: Mapping[Partition, int], *, timeout_s: float = 30.0
) -> dict[Partition, int]:
    """(topic, partition) -> end offset, never below ``listed`` (the broker's ListOffsets answer).

    Reads each partition from its listed end to the partition-EOF event of a fetch. A partition not
    confirmed within ``timeout_s`` keeps the furthest offset seen (and a warning says so).
    """
    ends = {key: max(0, offset) for key, offset in listed.items()}
    if not ends:
        return ends
    consumer = Consumer(
        consumer_config(
            settings,
            group_id=f"alstream-end-probe-{uuid.uuid4().hex[:12]}",
            **{"enable.auto.commit": False, "enable.partition.eof": True},
        )
    )
    pending = set(ends)
    try:
        consumer.assign(
            [TopicPartition(topic, partition, ends[(topic, partition)]) for topic, partition in ends]
        )
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            for message in consumer.consume(10_000, timeout=0.2):
                error = message.error()
                if error is None:
                    topic, partition, offset = coordinates(message)
                    ends[(topic, partition)] = max(ends[(topic, partition)], offset + 1)
                elif error.code() == KafkaError._PARTITION_EOF:
                    topic, partition, offset = coordinates(message)
                    ends[(topic, partition)] = max(ends[(topic, partition)], offset)
                    pending.discard((topic, partition))
                elif error.fatal():
                    raise BrokerError(f"reading partition ends failed: {error}")
    finally:
        consumer.close()
    if pending:
        log.warning(
            "end of %s not confirmed within %.0fs; using the furthest offsets read",
            sorted(pending),
            timeout_s,
        )
    return ends
