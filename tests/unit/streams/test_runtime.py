"""The agent runtime without a broker: at-least-once offsets, the poison-pill rule, outages, crash-resume.

Everything runs on :mod:`alstream.streams.testing`'s in-memory broker, producer and consumer, through
the same batch loop the agents use.
"""

from __future__ import annotations

import threading
import zipfile
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

from alstream.streams.batch_loop import Outputs
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.config import KafkaSettings, StreamsSettings
from alstream.streams.exceptions import RetryLater
from alstream.streams.runtime import AgentRuntime
from alstream.streams.stopping import StopFlag
from alstream.streams.testing import InMemoryBroker, InMemoryMessage, in_memory_runner
from tests.support.waiting import wait_until

DEAD_LETTERS = SingleObjectCodec("dead-letters")


class Echo:
    """Emits ``out:<value>`` per record each time it processes it (readers dedupe by the value, the
    record's id); raises ``errors[value]`` for the values listed there."""

    def __init__(
        self, errors: dict[bytes, BaseException] | None = None, *, failures_left: int = 10**9
    ) -> None:
        self.errors = errors or {}
        self.failures_left = failures_left
        self.seen: set[bytes] = set()
        self.calls = 0

    def process(self, messages: list[Any], outputs: Outputs) -> None:
        self.calls += 1
        for message in messages:
            value = message.value()
            error = self.errors.get(value)
            if error is not None and self.failures_left > 0:
                self.failures_left -= 1
                raise error
            self.seen.add(value)
            outputs.produce("out", value=b"out:" + value, key=message.key())

    def on_idle(self, outputs: Outputs) -> None:
        return None


def fill(broker: InMemoryBroker, values: list[bytes], topic: str = "in") -> None:
    for value in values:
        broker.append(topic, value, key=value)


def outputs(broker: InMemoryBroker) -> list[bytes]:
    return [m.value() or b"" for m in broker.messages("out")]


def dead_letters(broker: InMemoryBroker, topic: str = "dead-letters") -> list[dict[str, Any]]:
    return [DEAD_LETTERS.decode(m.value()) for m in broker.messages(topic)]


def run(runner: Any, *, batches: int) -> None:
    runner.run(StopFlag(), max_batches=batches)


def test_a_batch_is_processed_and_its_offsets_committed() -> None:
    broker = InMemoryBroker()
    fill(broker, [b"a", b"b", b"c"])
    processor = Echo()
    run(in_memory_runner(broker=broker, processor=processor, topics=["in"]), batches=1)
    assert outputs(broker) == [b"out:a", b"out:b", b"out:c"]
    assert broker.committed["test-group"] == {("in", 0): 3}


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad value"),
        KeyError("missing"),
        ZeroDivisionError("division"),
        zipfile.BadZipFile("File is not a zip file"),
        MemoryError(),
        RuntimeError("anything at all"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_poison_record_of_any_exception_type_is_dead_lettered_and_the_rest_delivered(
    error: BaseException,
) -> None:
    broker = InMemoryBroker()
    values = [f"r{n}".encode() for n in range(10)]
    values[6] = b"poison"
    fill(broker, values)
    processor = Echo({b"poison": error})
    run(in_memory_runner(broker=broker, processor=processor, topics=["in"], max_attempts=3), batches=1)

    assert set(outputs(broker)) == {b"out:" + v for v in values if v != b"poison"}
    (letter,) = dead_letters(broker)
    assert letter["error_class"] == type(error).__name__
    assert (letter["source_topic"], letter["source_partition"], letter["source_offset"]) == ("in", 0, 6)
    assert letter["original_value"] == b"poison" and letter["agent"] == "test-agent"
    assert broker.committed["test-group"] == {("in", 0): 10}, "the loop moved on past the poison record"


def test_attempts_are_bounded_and_bisection_finds_the_record() -> None:
    broker = InMemoryBroker()
    fill(broker, [f"r{n}".encode() for n in range(64)] + [b"poison"])
    processor = Echo({b"poison": ValueError("no")})
    run(in_memory_runner(broker=broker, processor=processor, topics=["in"], max_attempts=3), batches=1)
    # three attempts at the whole batch, then halves down to the one record: about 2 * log2(65) more
    assert processor.calls <= 3 + 2 * 8
    assert len(dead_letters(broker)) == 1


def test_a_record_that_fails_only_sometimes_is_not_dead_lettered() -> None:
    broker = InMemoryBroker()
    fill(broker, [b"a", b"flaky", b"c"])
    processor = Echo({b"flaky": ValueError("once")}, failures_left=1)
    run(in_memory_runner(broker=broker, processor=processor, topics=["in"]), batches=1)
    assert set(outputs(broker)) == {b"out:a", b"out:flaky", b"out:c"}
    assert dead_letters(broker) == []


def test_retry_later_is_waited_out_and_never_dead_lettered() -> None:
    broker = InMemoryBroker()
    fill(broker, [b"a", b"b"])
    processor = Echo({b"b": RetryLater("the model store is down")}, failures_left=3)
    run(in_memory_runner(broker=broker, processor=processor, topics=["in"], max_attempts=2), batches=1)
    assert set(outputs(broker)) == {b"out:a", b"out:b"}
    assert dead_letters(broker) == []
    assert processor.calls == 4


def test_an_output_the_broker_refuses_for_good_is_blamed_on_its_record() -> None:
    broker = InMemoryBroker()
    fill(broker, [b"a", b"huge", b"c"])
    runner = in_memory_runner(broker=broker, processor=Echo(), topics=["in"])
    runner.producer.refuse = lambda message: (
        KafkaError(KafkaError.MSG_SIZE_TOO_LARGE, "too large") if message.value() == b"out:huge" else None
    )
    run(runner, batches=1)
    assert b"out:a" in outputs(broker) and b"out:c" in outputs(broker)
    (letter,) = dead_letters(broker)
    assert letter["source_offset"] == 1 and letter["error_class"] == "DeliveryRefused"
    assert broker.committed["test-group"] == {("in", 0): 3}


def test_offsets_wait_for_the_broker_to_acknowledge_however_long_it_takes() -> None:
    broker = InMemoryBroker()
    fill(broker, [b"a", b"b"])
    runner = in_memory_runner(broker=broker, processor=Echo(), topics=["in"])
    runner.producer.acknowledging = False  # an outage: nothing is acknowledged
    stop = StopFlag()
    loop = threading.Thread(target=runner.run, args=(stop,), kwargs={"max_batches": 1}, daemon=True)
    loop.start()
    wait_until(lambda: len(runner.producer) == 2, timeout_s=10, what="the outputs to be queued")
    runner.consumer.commit()  # an auto-commit during the outage commits nothing of the batch
    assert broker.committed["test-group"] == {}
    runner.producer.acknowledging = True  # the broker is back
    loop.join(timeout=10)
    assert not loop.is_alive()
    assert outputs(broker) == [b"out:a", b"out:b"]
    assert broker.committed["test-group"] == {("in", 0): 2}


def test_a_stop_during_an_outage_leaves_the_batch_uncommitted() -> None:
    broker = InMemoryBroker()
    fill(broker, [b"a"])
    runner = in_memory_runner(broker=broker, processor=Echo(), topics=["in"])
    runner.producer.acknowledging = False
    stop = StopFlag()
    loop = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    loop.start()
    wait_until(lambda: len(runner.producer) == 1, timeout_s=10, what="the output to be queued")
    stop.set()
    loop.join(timeout=10)
    assert not loop.is_alive()
    assert broker.committed["test-group"] == {}, "at-least-once: the next owner processes it again"


def test_a_transient_delivery_failure_processes_the_batch_again() -> None:
    broker = InMemoryBroker()
    fill(broker, [b"a", b"b"])
    processor = Echo()
    runner = in_memory_runner(broker=broker, processor=processor, topics=["in"])
    timeouts = iter([KafkaError(KafkaError._MSG_TIMED_OUT)])
    runner.producer.refuse = lambda message: next(timeouts, None)
    run(runner, batches=1)
    assert processor.calls == 2
    assert sorted(outputs(broker)) == [b"out:a", b"out:b", b"out:b"]  # "a" timed out, so the batch ran again
    assert dead_letters(broker) == []
    assert broker.committed["test-group"] == {("in", 0): 2}


def test_a_crash_loses_nothing_and_a_restart_replays_only_what_was_not_committed() -> None:
    broker = InMemoryBroker(partitions=2)
    values = [f"r{n}".encode() for n in range(40)]
    for value in values:
        broker.append("in", value, key=value)
    processor = Echo()
    first = in_memory_runner(broker=broker, processor=processor, topics=["in"], batch_size=7)
    first.consumer.commit = lambda **_: None  # SIGKILL before any auto-commit: stored, never committed
    run(first, batches=3)
    assert broker.committed["test-group"] == {}
    assert len(outputs(broker)) == 21
    second = in_memory_runner(broker=broker, processor=processor, topics=["in"], batch_size=7)
    run(second, batches=-(-40 // 7))  # every record again, seven at a time
    assert set(outputs(broker)) == {b"out:" + v for v in values}  # nothing lost
    assert len(outputs(broker)) == 21 + 40  # the 21 uncommitted records again, identical: deduped by id
    assert sum(broker.committed["test-group"].values()) == 40


def test_a_side_reader_dead_letters_what_its_handler_keeps_failing_on() -> None:
    broker = InMemoryBroker()
    stop = StopFlag()
    runtime = AgentRuntime(
        agent="side-test",
        config=StreamsSettings(kafka=KafkaSettings(bootstrap_servers="in-memory", topic_prefix="p.")),
        stop=stop,
        producer=broker.producer(),
        earlier_dead_letters={},
    )
    handled: list[bytes] = []

    def handle(message: Any) -> None:
        if message.value() == b"bad":
            raise zipfile.BadZipFile("not a zip")
        handled.append(message.value())

    good = InMemoryMessage("p.models", b"good", b"m", 0, 0)
    bad = InMemoryMessage("p.models", b"bad", b"m", 0, 1)
    assert runtime.guarded(bad, handle, what="model announcement") is False
    assert runtime.guarded(good, handle, what="model announcement") is True
    runtime.producer.flush(0)
    (letter,) = [DEAD_LETTERS.decode(m.value()) for m in broker.messages("p.dead-letters")]
    assert letter["error_class"] == "BadZipFile" and letter["source_offset"] == 1
    assert handled == [b"good"]


def test_a_restarted_side_reader_does_not_dead_letter_a_record_a_second_time() -> None:
    broker = InMemoryBroker()

    def bad(message: Any) -> None:
        raise zipfile.BadZipFile("not a zip")

    poison = InMemoryMessage("p.models", b"bad", b"m", 0, 7)
    other = InMemoryMessage("p.models", b"also bad", b"m", 0, 8)
    for run_no in range(2):  # a first run, then a restart that reads the models topic again
        earlier: dict[str, set[tuple[int, int]]] = {"p.models": set()}  # the topic it follows
        for message in broker.messages("p.dead-letters"):  # what the restarted agent would read
            letter = DEAD_LETTERS.decode(message.value())
            earlier.setdefault(letter["source_topic"], set()).add(
                (letter["source_partition"], letter["source_offset"])
            )
        runtime = AgentRuntime(
            agent="side-test",
            config=StreamsSettings(kafka=KafkaSettings(bootstrap_servers="in-memory", topic_prefix="p.")),
            stop=StopFlag(),
            producer=broker.producer(),
            earlier_dead_letters=earlier,
        )
        assert runtime.guarded(poison, bad, what="model announcement") is False  # tried again, failed again
        assert runtime.guarded(poison, bad, what="model announcement") is False
        if run_no == 1:
            assert runtime.guarded(other, bad, what="model announcement") is False  # a new bad record
        runtime.producer.flush(0)
    offsets = [
        letter["source_offset"]
        for letter in dead_letters(broker, "p.dead-letters")
        if letter["agent"] == "side-test"
    ]
    assert offsets == [7, 8]


def test_a_dead_letter_topic_the_cluster_refuses_to_read_does_not_stop_the_agent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from alstream.streams import runtime as runtime_module

    def refused(*_: Any, **__: Any) -> Any:
        raise KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))

    monkeypatch.setattr(runtime_module, "dead_lettered", refused)
    runtime = AgentRuntime(
        agent="side-test",
        config=StreamsSettings(kafka=KafkaSettings(bootstrap_servers="in-memory", topic_prefix="p.")),
        stop=StopFlag(),
        producer=InMemoryBroker().producer(),
    )
    runtime.remember_dead_letters(["p.models"])
    assert runtime.dead_lettered_before("p.models") == set()


def test_idle_callbacks_never_stop_the_agent() -> None:
    stop = StopFlag()
    runtime = AgentRuntime(
        agent="idle-test",
        config=StreamsSettings(kafka=KafkaSettings(bootstrap_servers="in-memory")),
        stop=stop,
        producer=InMemoryBroker().producer(),
    )
    ticks: list[int] = []

    def tick() -> None:
        ticks.append(len(ticks))
        if len(ticks) == 1:
            raise OSError("the release store is not mounted")
        if len(ticks) == 3:
            stop.set()

    runtime.every(0.01, tick, what="a tick")
    runtime.run()  # no main loop: the idle callbacks alone, until the stop flag
    assert len(ticks) == 3


def test_an_idle_agent_notices_an_outage_by_asking_the_cluster() -> None:
    from prometheus_client import REGISTRY

    producer = InMemoryBroker().producer()
    runtime = AgentRuntime(
        agent="probe-test",
        config=StreamsSettings(kafka=KafkaSettings(bootstrap_servers="in-memory-probe")),
        stop=StopFlag(),
        producer=producer,
    )
    producer.acknowledging = False
    assert runtime.probe() is False
    assert REGISTRY.get_sample_value("alstream_agent_broker_up", {"agent": "probe-test"}) == 0
    producer.acknowledging = True
    assert runtime.probe() is True
    assert REGISTRY.get_sample_value("alstream_agent_broker_up", {"agent": "probe-test"}) == 1
