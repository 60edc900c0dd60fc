"""Agents and commands ride out a broker that stops answering, and say clearly what they wait for.

Each test runs its own embedded broker, so freezing it (SIGSTOP: connections stay open, nothing
answers, nothing is lost; SIGCONT resumes it, like a long GC pause or a healed partition) touches no
other test. The pauses are as long as real ones: 30-60 s here, five minutes in the ``slow`` test.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Producer

from alstream.demo import scrape
from alstream.ingest.producer import ItemProducer
from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.embedded_broker import EmbeddedBroker, free_port
from alstream.streams.kafka_config import producer_config
from alstream.streams.topics import create_topics
from tests.support import records
from tests.support.processes import CommandProcess, start_agent, start_command, while_running
from tests.support.topics import read_messages
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

DIM = 8
PAUSE_S = 45.0  # longer than every client timeout an agent's calls run into (15 s, 30 s)
BURST = 20_000


class FrozenBroker:
    """SIGSTOP / SIGCONT of one embedded broker; always thawed again at the end."""

    def __init__(self, broker: EmbeddedBroker) -> None:
        self.broker = broker
        self.frozen = False

    def freeze(self) -> None:
        assert self.broker.pid is not None
        os.kill(self.broker.pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        if self.frozen and self.broker.pid is not None:
            os.kill(self.broker.pid, signal.SIGCONT)
        self.frozen = False


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[FrozenBroker]:
    with EmbeddedBroker(log_file=tmp_path / "tansu.log") as broker:
        frozen = FrozenBroker(broker)
        try:
            yield frozen
        finally:
            frozen.thaw()


@pytest.fixture
def env(
    own_broker: FrozenBroker, tmp_path: Path, unique_id: str, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The environment of every process of the test (the agents', and this test's own settings)."""
    values = {
        **own_broker.broker.client_environment(),
        "ALSTREAM_KAFKA__TOPIC_PREFIX": f"o{unique_id}.",
        "ALSTREAM_KAFKA__SESSION_TIMEOUT_MS": "6000",
        "ALSTREAM_METRICS__PORT": "0",
        "ALSTREAM_TASK__CLASSES": '["cat", "dog", "fox"]',
        "ALSTREAM_INGEST__EMBEDDING_DIM": str(DIM),
        "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state"),
    }
    for key in [k for k in os.environ if k.startswith(("ALSTREAM_", "KAFKA_"))]:
        monkeypatch.delenv(key)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return {**os.environ}


@pytest.fixture
def settings_of(env: dict[str, str]) -> AlstreamSettings:
    settings = load_settings()
    create_topics(settings, partitions_override=2)
    return settings


def assignments_made(settings: AlstreamSettings) -> int:
    return len(read_messages(settings, "assignments"))


def scored(settings: AlstreamSettings) -> set[str]:
    codec = SingleObjectCodec("scores")
    return {codec.decode(m.value())["item_id"] for m in read_messages(settings, "scores")}


def write_policy(folder: Path) -> Path:
    policy = folder / "policy.toml"
    policy.write_text(
        'version = "pause-1"\ngoal = "test"\nwindow_seconds = 2.0\n[signal]\nname = "entropy"\n'
    )
    return policy


class AnnotatorLoad(threading.Thread):
    """Fresh candidates and READY events from twenty annotators, without pause, so the router keeps
    assigning before and after the broker's pause."""

    def __init__(self, settings: AlstreamSettings) -> None:
        super().__init__(daemon=True, name="annotator-load")
        self.settings = settings
        self.done = threading.Event()
        self.sent = 0

    def run(self) -> None:
        producer = Producer(producer_config(self.settings))
        candidates, events = SingleObjectCodec("candidates"), SingleObjectCodec("annotator-events")
        candidate_topic = self.settings.kafka.topic("candidates")
        events_topic = self.settings.kafka.topic("annotator-events")
        n = 0
        while not self.done.is_set():
            n += 1
            now = datetime.now(UTC)
            item = f"load-{n}"
            producer.produce(
                candidate_topic,
                key=item,
                value=candidates.encode(records.candidate(item, selected_at=now, dim=DIM)),
            )
            annotator = f"ann-{n % 20}"
            ready = events.encode(records.annotator_event(annotator, ready_for=1, occurred_at=now))
            for partition in (0, 1):
                producer.produce(events_topic, key=annotator, value=ready, partition=partition)
            producer.poll(0)
            self.sent = n
            self.done.wait(0.05)
        producer.flush(60)


def test_router_rides_out_a_broker_pause_while_it_is_busy(
    own_broker: FrozenBroker, env: dict[str, str], settings_of: AlstreamSettings, tmp_path: Path
) -> None:
    settings = settings_of
    quotas = tmp_path / "quotas.toml"
    quotas.write_text(records.PERMISSIVE_QUOTAS)
    env = {**env, "ALSTREAM_METRICS__PORT": str(free_port())}
    router = start_agent(
        "router",
        env={
            **env,
            "ALSTREAM_ROUTER__TICK_INTERVAL_S": "1",
            "ALSTREAM_ROUTER__GROUP_ID": "router-pause",
            "ALSTREAM_PATHS__QUOTAS_FILE": str(quotas),
        },
        log_file=tmp_path / "router.log",
    )
    load = AnnotatorLoad(settings)
    try:
        load.start()
        before = wait_until(
            while_running(router, lambda: (made := assignments_made(settings)) >= 50 and made),
            timeout_s=180,
            interval_s=2,
            what="the router to be assigning under load",
            diagnose=router.tail,
        )
        # A burst the router is still working through when the broker stops: its table writes fill
        # the changelog producer's batches, which cannot drain until the broker answers again. A
        # producer that gave up on a full batch after its request timeout would crash the worker.
        burst_producer = Producer(producer_config(settings, **{"linger.ms": 50}))
        codec = SingleObjectCodec("candidates")
        now = datetime.now(UTC)
        for n in range(BURST):
            item = f"burst-{n}"
            burst_producer.produce(
                settings.kafka.topic("candidates"),
                key=item,
                value=codec.encode(records.candidate(item, selected_at=now, dim=DIM)),
            )
            if n % 10_000 == 0:
                burst_producer.poll(0)
        assert burst_producer.flush(60) == 0
        port = int(env["ALSTREAM_METRICS__PORT"])
        wait_until(
            while_running(
                router, lambda: scrape.total(scrape.scrape(port), "alstream_router_pool_depth") >= 500
            ),
            timeout_s=120,
            interval_s=0.2,
            what="the router to be working through the burst",
            diagnose=router.tail,
        )
        own_broker.freeze()  # mid-burst: table writes and assignments are queued and in flight
        _hold(PAUSE_S, router)
        own_broker.thaw()
        wait_until(
            while_running(router, lambda: assignments_made(settings) >= before + 100),
            timeout_s=180,
            interval_s=3,
            what="assignments to go on after the pause",
            diagnose=router.tail,
        )
        load.done.set()
        load.join(timeout=90)
        assert router.running, router.tail()
    finally:
        load.done.set()
        own_broker.thaw()
        router.stop()


def _hold(seconds: float, *processes: CommandProcess) -> None:
    """Keep the broker frozen for ``seconds``, failing at once if a process exits meanwhile."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for process in processes:
            assert process.running, f"exited during the pause with {process.returncode}\n{process.tail()}"
        time.sleep(1)


def test_trainer_started_during_a_pause_waits_for_the_broker(
    own_broker: FrozenBroker, env: dict[str, str], settings_of: AlstreamSettings, tmp_path: Path
) -> None:
    from alstream.demo.dataset import CLASSES, prepare

    demo = prepare(tmp_path / "demo", seed=7)
    trainer_env = {
        **env,
        "ALSTREAM_TASK__CLASSES": '["' + '", "'.join(CLASSES) + '"]',
        "ALSTREAM_TRAINER__VALIDATION_FILE": str(demo.validation_file),
        "ALSTREAM_TRAINER__SEED_FILE": str(demo.seed_file),
    }
    own_broker.freeze()
    trainer = start_agent("trainer", env=trainer_env, log_file=tmp_path / "trainer.log")
    try:
        wait_until(
            while_running(trainer, lambda: "waiting for the Kafka cluster" in trainer.log()),
            timeout_s=60,
            what="the trainer to say it waits for the cluster",
            diagnose=trainer.tail,
        )
        _hold(PAUSE_S, trainer)
        own_broker.thaw()
        wait_until(
            while_running(trainer, lambda: "cluster answered" in trainer.log()),
            timeout_s=120,
            what="the trainer to get going once the broker answers",
            diagnose=trainer.tail,
        )
        assert "SASL" not in trainer.log() and "TLS" not in trainer.log(), trainer.tail()
    finally:
        own_broker.thaw()
        trainer.stop()


def test_an_agent_waiting_for_the_cluster_stops_cleanly_on_sigterm(
    own_broker: FrozenBroker, env: dict[str, str], settings_of: AlstreamSettings, tmp_path: Path
) -> None:
    own_broker.freeze()
    agent = start_agent("labels", env=env, log_file=tmp_path / "labels.log")
    try:
        wait_until(
            while_running(agent, lambda: "waiting for the Kafka cluster" in agent.log()),
            timeout_s=60,
            what="the agent to say it waits for the cluster",
            diagnose=agent.tail,
        )
        assert agent.stop(timeout_s=30) == 0, agent.tail()
    finally:
        own_broker.thaw()
        agent.kill()


def test_a_wrong_bootstrap_address_names_the_setting_and_blames_no_security(
    env: dict[str, str], tmp_path: Path
) -> None:
    wrong = f"127.0.0.1:{free_port()}"  # nothing listens there
    command = start_command(
        ["topics", "list"],
        env={**env, "KAFKA_BOOTSTRAP_SERVERS": wrong, "ALSTREAM_KAFKA__OUTAGE_TOLERANCE_S": "5"},
        log_file=tmp_path / "topics.log",
    )
    assert command.process is not None
    code = command.process.wait(timeout=120)
    output = command.log()
    assert code == 2, output
    assert wrong in output and "KAFKA_BOOTSTRAP_SERVERS" in output, output
    assert "SASL" not in output and "TLS" not in output, output


def test_scorer_rides_out_a_broker_pause_and_loses_nothing(
    own_broker: FrozenBroker, env: dict[str, str], settings_of: AlstreamSettings, tmp_path: Path
) -> None:
    settings = settings_of
    scorer = start_agent(
        "scorer",
        env={**env, "ALSTREAM_PATHS__POLICY_FILE": str(write_policy(tmp_path))},
        log_file=tmp_path / "scorer.log",
    )
    try:
        with ItemProducer(settings=settings, default_source="test") as sdk:
            sdk.send_many([records.item(f"before-{n}", dim=DIM, seed=n) for n in range(200)])
            sdk.flush(30)
            wait_until(
                while_running(scorer, lambda: len(scored(settings)) >= 200),
                timeout_s=120,
                what="the first items to be scored",
                diagnose=scorer.tail,
            )
            own_broker.freeze()
            sdk.send_many([records.item(f"during-{n}", dim=DIM, seed=n) for n in range(200)])  # queued
            _hold(PAUSE_S, scorer)
            own_broker.thaw()
            report = sdk.flush(120)
            assert not report.failures and not report.pending
        wanted = {f"before-{n}" for n in range(200)} | {f"during-{n}" for n in range(200)}
        wait_until(
            while_running(scorer, lambda: wanted <= scored(settings)),
            timeout_s=180,
            what="every item to be scored after the pause",
            diagnose=scorer.tail,
        )
    finally:
        own_broker.thaw()
        scorer.stop()


LONG_PAUSE_S = 5 * 60 + 10


@pytest.mark.timeout(1800)
def test_agents_and_a_command_ride_out_a_five_minute_pause(
    own_broker: FrozenBroker, env: dict[str, str], settings_of: AlstreamSettings, tmp_path: Path
) -> None:
    """Scorer, labels agent and router under load, and ``alstream produce`` started during the pause:
    nothing exits, and after the pause every item is scored, every bad label dead-lettered and the
    router assigns again."""
    settings = settings_of
    quotas = tmp_path / "quotas.toml"
    quotas.write_text(records.PERMISSIVE_QUOTAS)
    scorer_port = free_port()
    agents = {
        "scorer": start_agent(
            "scorer",
            env={
                **env,
                "ALSTREAM_PATHS__POLICY_FILE": str(write_policy(tmp_path)),
                "ALSTREAM_METRICS__PORT": str(scorer_port),
            },
            log_file=tmp_path / "scorer.log",
        ),
        "labels": start_agent(
            "labels", env={**env, "ALSTREAM_LABELS__HOLD_UNKNOWN_S": "1"}, log_file=tmp_path / "labels.log"
        ),
        "router": start_agent(
            "router",
            env={**env, "ALSTREAM_ROUTER__TICK_INTERVAL_S": "1", "ALSTREAM_PATHS__QUOTAS_FILE": str(quotas)},
            log_file=tmp_path / "router.log",
        ),
    }
    load = AnnotatorLoad(settings)
    items_file = tmp_path / "items.jsonl"
    items_file.write_text(
        "".join(json.dumps(records.item(f"file-{n}", dim=DIM, seed=n)) + "\n" for n in range(200))
    )
    bad_labels = 20
    try:
        load.start()
        with ItemProducer(settings=settings, default_source="test") as sdk:
            sdk.send_many([records.item(f"before-{n}", dim=DIM, seed=n) for n in range(200)])
            assert not sdk.flush(30).pending
        wait_until(
            lambda: (
                all(agent.running for agent in agents.values())
                and len(scored(settings)) >= 200
                and assignments_made(settings) >= 20
            ),
            timeout_s=180,
            interval_s=2,
            what="every agent to be working",
            diagnose=lambda: "\n".join(agent.tail(20) for agent in agents.values()),
        )
        own_broker.freeze()
        garbage = Producer(producer_config(settings))  # queued until the broker answers again
        for n in range(bad_labels):
            garbage.produce(settings.kafka.topic("labels"), key=f"it{n}", value=b"not a label")
        produce = start_command(["produce", str(items_file)], env=env, log_file=tmp_path / "produce.log")
        _hold(LONG_PAUSE_S, *agents.values(), produce)
        own_broker.thaw()
        assert garbage.flush(120) == 0
        assert produce.process is not None and produce.process.wait(timeout=180) == 0, produce.tail()
        wanted = {f"before-{n}" for n in range(200)} | {f"file-{n}" for n in range(200)}
        wait_until(
            while_running(agents["scorer"], lambda: wanted <= scored(settings)),
            timeout_s=300,
            interval_s=3,
            what="every item, sent before and during the pause, to be scored",
            diagnose=agents["scorer"].tail,
        )
        codec = SingleObjectCodec("dead-letters")
        wait_until(
            while_running(
                agents["labels"],
                lambda: (
                    sum(
                        1
                        for m in read_messages(settings, "dead-letters")
                        if codec.decode(m.value())["agent"] == "labels"
                    )
                    >= bad_labels
                ),
            ),
            timeout_s=300,
            interval_s=3,
            what="the labels sent during the pause to be dead-lettered",
            diagnose=agents["labels"].tail,
        )
        after = assignments_made(settings)
        wait_until(
            while_running(agents["router"], lambda: assignments_made(settings) >= after + 50),
            timeout_s=300,
            interval_s=3,
            what="the router to assign after the pause",
            diagnose=agents["router"].tail,
        )
        assert scrape.total(scrape.scrape(scorer_port), "alstream_agent_broker_up", agent="scorer") == 1
        assert (
            scrape.total(scrape.scrape(scorer_port), "alstream_agent_broker_retries_total", agent="scorer")
            > 0
        )
        assert "waiting for the Kafka cluster" in agents["scorer"].log()
    finally:
        load.done.set()
        own_broker.thaw()
        for agent in agents.values():
            agent.stop()
