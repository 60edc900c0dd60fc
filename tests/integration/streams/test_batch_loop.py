"""BatchAgentRunner stores offsets only after a batch's outputs were delivered.

A process that dies mid-batch must not lose the failed batch: a new runner in the same group sees it
again, and does not see again the batch that completed before the failure. (A processor that raises
an exception is the poison-pill rule's business: ``tests/unit/streams/test_runtime.py``.)
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from confluent_kafka import Consumer, Message, Producer
from prometheus_client import REGISTRY

from alstream.settings import AlstreamSettings
from alstream.streams.batch_loop import BatchAgentRunner, Outputs, StopFlag
from alstream.streams.kafka_config import consumer_config, producer_config
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker


class Crash(BaseException):
    """The process dies mid-batch (think SIGKILL): nothing after it runs, no exception handler sees it."""


class Processor:
    """Base of the test processors: nothing to do when a poll returns nothing."""

    def on_idle(self, outputs: Outputs) -> None:
        pass


def produce_keys(settings: AlstreamSettings, topic: str, keys: list[str], **kwargs: Any) -> None:
    producer = Producer(producer_config(settings))
    for key in keys:
        producer.produce(topic, value=b"x", key=key, **kwargs)
    assert producer.flush(30) == 0


def run_until_stopped(runner: BatchAgentRunner, stop: StopFlag, timeout_s: float = 60) -> None:
    """Run until ``stop`` is set; set it after ``timeout_s`` so a broken test fails instead of hanging."""
    timer = threading.Timer(timeout_s, stop.set)
    timer.start()
    try:
        runner.run(stop)
    finally:
        timer.cancel()


class FailsOnSecondBatch(Processor):
    def __init__(self, out_topic: str) -> None:
        self.out_topic = out_topic
        self.first_batch: set[str] = set()
        self.failed_batch: set[str] = set()
        self.calls = 0

    def process(self, messages: list[Message], outputs: Outputs) -> None:
        self.calls += 1
        ids = {m.key().decode() for m in messages}
        if self.calls == 1:
            for message in messages:
                outputs.produce(self.out_topic, value=b"done", key=message.key())
            self.first_batch = ids
            return
        self.failed_batch = ids
        raise Crash("the process died mid-batch")


class Collects(Processor):
    def __init__(self, stop: StopFlag, expected: int) -> None:
        self.stop = stop
        self.expected = expected
        self.seen: list[str] = []

    def process(self, messages: list[Message], outputs: Outputs) -> None:
        self.seen.extend(m.key().decode() for m in messages)
        if len(self.seen) >= self.expected:
            self.stop.set()


def test_failed_batch_is_seen_again_by_next_runner(topics: AlstreamSettings, group_id: str) -> None:
    source, out = topics.kafka.topic("items"), topics.kafka.topic("scores")
    all_ids = {f"item-{i}" for i in range(10)}
    produce_keys(topics, source, sorted(all_ids))

    crashing = FailsOnSecondBatch(out)
    first = BatchAgentRunner(
        agent="test-batch",
        settings=topics,
        topics=[source],
        group_id=group_id,
        processor=crashing,
        batch_size=3,
    )
    with pytest.raises(Crash):
        run_until_stopped(first, StopFlag())
    assert crashing.first_batch and crashing.failed_batch
    assert len(crashing.first_batch) <= 3

    stop = StopFlag()
    collector = Collects(stop, expected=len(all_ids) - len(crashing.first_batch))
    second = BatchAgentRunner(
        agent="test-batch", settings=topics, topics=[source], group_id=group_id, processor=collector
    )
    run_until_stopped(second, stop)
    seen = set(collector.seen)
    assert crashing.failed_batch <= seen, "the batch that failed was lost"
    assert seen | crashing.first_batch == all_ids
    assert not (seen & crashing.first_batch), "a completed batch was processed again"

    # the completed batch's outputs were delivered before its offsets were stored
    reader = Consumer(consumer_config(topics, group_id=group_id + "-out"))
    reader.subscribe([out])
    outputs: set[str] = set()

    def delivered() -> bool:
        for message in reader.consume(100, 0.2):
            if message.error() is None:
                outputs.add(message.key().decode())
        return outputs >= crashing.first_batch

    try:
        wait_until(
            delivered,
            timeout_s=30,
            interval_s=0,  # consume() itself waits for records
            what="the completed batch's outputs",
            diagnose=lambda: f"{len(outputs & crashing.first_batch)} of {len(crashing.first_batch)} seen",
        )
    finally:
        reader.close()
    assert outputs == crashing.first_batch


class FailsDeliveryOnce(Processor):
    """First batch: one output to a partition that does not exist. The topic is new to the producer, so
    produce() accepts it and the failure arrives as a delivery report once metadata is known."""

    def __init__(self, out_topic: str, stop: StopFlag) -> None:
        self.out_topic = out_topic
        self.stop = stop
        self.batches: list[list[str]] = []

    def process(self, messages: list[Message], outputs: Outputs) -> None:
        self.batches.append([m.key().decode() for m in messages])
        if len(self.batches) == 1:
            outputs.producer.produce(self.out_topic + "-unseen", value=b"lost", key=b"x", partition=999)
        else:
            outputs.produce_many(self.out_topic, [m.key() for m in messages], [b"done"] * len(messages))
            self.stop.set()


def test_a_failed_delivery_replays_the_batch(topics: AlstreamSettings, group_id: str) -> None:
    """The runner's producer reports failures through its config-level callback, not per record."""
    source, out = topics.kafka.topic("items"), topics.kafka.topic("scores")
    produce_keys(topics, source, [f"item-{i}" for i in range(5)], partition=0)

    stop = StopFlag()
    processor = FailsDeliveryOnce(out, stop)
    runner = BatchAgentRunner(
        agent="test-redeliver", settings=topics, topics=[source], group_id=group_id, processor=processor
    )
    assert runner.outputs.callback_per_record is False
    run_until_stopped(runner, stop)
    assert len(processor.batches) == 2, "the failed delivery went unnoticed or the batch was not replayed"
    assert processor.batches[1] == processor.batches[0] == [f"item-{i}" for i in range(5)]
    # a partition that does not exist is refused for good: an attempt against the batch's records
    retried = REGISTRY.get_sample_value(
        "alstream_agent_record_retries_total", {"agent": "test-redeliver", "error_class": "DeliveryRefused"}
    )
    assert retried == 1
