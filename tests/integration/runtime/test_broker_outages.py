"""Agents and commands ride out a broker that stops answering, and say clearly what they wait for.

Each test runs its own embedded broker, so freezing it (SIGSTOP: connections stay open, nothing
answers, nothing is lost; SIGCONT resumes it, like a long GC pause or a healed partition) touches no
other test. The pauses are as long as real ones: 30-60 s here, five minutes in the ``slow`` test.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alstream.ingest.producer import ItemProducer
from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.embedded_broker import EmbeddedBroker, free_port
from alstream.streams.topics import create_topics
from tests.support import records
from tests.support.processes import CommandProcess, start_agent, start_command, while_running
from tests.support.topics import produce_raw, read_messages
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

DIM = 8
PAUSE_S = 45.0  # longer than every client timeout the agents used to trip over (15 s, 30 s)


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


def assignments_for(settings: AlstreamSettings, annotator: str) -> list[dict]:
    codec = SingleObjectCodec("assignments")
    return [
        record
        for record in (codec.decode(m.value()) for m in read_messages(settings, "assignments"))
        if record["annotator_id"] == annotator
    ]


def ask(settings: AlstreamSettings, annotator: str) -> list[dict]:
    """Say ``annotator`` is ready (to every shard, as a tool does) and return its assignments so far."""
    codec = SingleObjectCodec("annotator-events")
    now = datetime.now(UTC)
    for partition in (0, 1):
        produce_raw(
            settings,
            "annotator-events",
            codec.encode(records.annotator_event(annotator, ready_for=1, occurred_at=now)),
            key=annotator,
            partition=partition,
        )
    return assignments_for(settings, annotator)


def send_candidates(settings: AlstreamSettings, ids: list[str]) -> None:
    codec = SingleObjectCodec("candidates")
    for item_id in ids:
        fresh = records.candidate(item_id, selected_at=datetime.now(UTC))  # older ones age out of the pool
        produce_raw(settings, "candidates", codec.encode(fresh), key=item_id)


def test_router_rides_out_a_broker_pause(
    own_broker: FrozenBroker, env: dict[str, str], settings_of: AlstreamSettings, tmp_path: Path
) -> None:
    settings = settings_of
    router = start_agent(
        "router",
        env={**env, "ALSTREAM_ROUTER__TICK_INTERVAL_S": "1", "ALSTREAM_ROUTER__GROUP_ID": "router-pause"},
        log_file=tmp_path / "router.log",
    )
    try:
        send_candidates(settings, [f"c{n}" for n in range(20)])
        wait_until(
            while_running(router, lambda: ask(settings, "alice")),
            timeout_s=120,
            interval_s=2,
            what="a first assignment",
            diagnose=router.tail,
        )
        own_broker.freeze()  # the router keeps ticking into every shard while nothing answers
        _hold(PAUSE_S, router)
        own_broker.thaw()
        wait_until(
            while_running(router, lambda: ask(settings, "bob")),
            timeout_s=180,
            interval_s=3,
            what="an assignment after the pause",
            diagnose=router.tail,
        )
    finally:
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
    policy = tmp_path / "policy.toml"
    policy.write_text(
        'version = "pause-1"\ngoal = "test"\nwindow_seconds = 2.0\n[signal]\nname = "entropy"\n'
    )
    scorer = start_agent(
        "scorer",
        env={**env, "ALSTREAM_PATHS__POLICY_FILE": str(policy), "ALSTREAM_SCORER__MODEL_CATCH_UP_S": "1"},
        log_file=tmp_path / "scorer.log",
    )
    codec = SingleObjectCodec("scores")
    try:
        with ItemProducer(settings=settings, default_source="test") as sdk:
            sdk.send_many([records.item(f"before-{n}", dim=DIM, seed=n) for n in range(200)])
            sdk.flush(30)
            wait_until(
                while_running(
                    scorer,
                    lambda: (
                        len({codec.decode(m.value())["item_id"] for m in read_messages(settings, "scores")})
                        >= 200
                    ),
                ),
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
            while_running(
                scorer,
                lambda: (
                    wanted <= {codec.decode(m.value())["item_id"] for m in read_messages(settings, "scores")}
                ),
            ),
            timeout_s=180,
            what="every item to be scored after the pause",
            diagnose=scorer.tail,
        )
    finally:
        own_broker.thaw()
        scorer.stop()
