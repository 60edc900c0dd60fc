"""The ACL matrix against what each agent really does: every agent runs on the broker while every Kafka
client it makes records the topics it reads (subscribe / assign), writes (produce), describes
(metadata) and the consumer groups it joins; each role must grant exactly the reads used, and cover
every write, describe and group.

The broker here (Tansu) does not enforce ACLs, so this checks the matrix against observed use rather
than running each agent with only its grants (docs/security.md, "What is verified"). The router's
clients (its batch loop, side readers, status and dead letters) are all librdkafka ones, checked in
``test_router_side_readers_stay_within_its_grants``.
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import confluent_kafka
import pytest

from alstream.agents.release.requests import request_build
from alstream.security.acl import Role, roles
from alstream.security.identity import deployment_topics
from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.codecs import codec_for
from alstream.streams.stopping import StopFlag
from alstream.streams.topics import create_topics
from tests.support import records
from tests.support.topics import produce_raw
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]


@dataclass
class Usage:
    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    described: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, kind: str, names: Any) -> None:
        with self.lock:
            getattr(self, kind).update(n for n in names if n)


@pytest.fixture
def usage(monkeypatch: pytest.MonkeyPatch) -> Usage:
    """Replace confluent-kafka's Producer and Consumer, wherever alstream imported them, with recording
    subclasses (the real clients underneath)."""
    for name in (
        "alstream.agents.scorer.main",
        "alstream.agents.labels.main",
        "alstream.agents.agreement.main",
        "alstream.agents.release.main",
        "alstream.agents.trainer.main",
        "alstream.agents.tool_gateway.main",
        "alstream.agents.router.main",
    ):
        importlib.import_module(name)
    seen = Usage()
    real_producer, real_consumer = confluent_kafka.Producer, confluent_kafka.Consumer

    class RecordingProducer(real_producer):  # type: ignore[misc, valid-type]
        def produce(self, topic: str, *args: Any, **kwargs: Any) -> Any:
            seen.note("writes", [topic])
            return super().produce(topic, *args, **kwargs)

        def list_topics(self, topic: str | None = None, *args: Any, **kwargs: Any) -> Any:
            seen.note("described", [topic])
            return super().list_topics(topic, *args, **kwargs)

    class RecordingConsumer(real_consumer):  # type: ignore[misc, valid-type]
        def __init__(self, config: dict[str, Any], *args: Any, **kwargs: Any) -> None:
            seen.note("groups", [config.get("group.id")])
            super().__init__(config, *args, **kwargs)

        def subscribe(self, topics: list[str], *args: Any, **kwargs: Any) -> Any:
            seen.note("reads", topics)
            return super().subscribe(topics, *args, **kwargs)

        def assign(self, partitions: list[Any], *args: Any, **kwargs: Any) -> Any:
            seen.note("reads", [p.topic for p in partitions])
            return super().assign(partitions, *args, **kwargs)

        def list_topics(self, topic: str | None = None, *args: Any, **kwargs: Any) -> Any:
            seen.note("described", [topic])
            return super().list_topics(topic, *args, **kwargs)

    for module in list(sys.modules.values()):
        if not getattr(module, "__name__", "").startswith("alstream"):
            continue
        if getattr(module, "Producer", None) is real_producer:
            monkeypatch.setattr(module, "Producer", RecordingProducer)
        if getattr(module, "Consumer", None) is real_consumer:
            monkeypatch.setattr(module, "Consumer", RecordingConsumer)
    return seen


@pytest.fixture
def deployment(
    settings: AlstreamSettings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AlstreamSettings:
    monkeypatch.setenv("ALSTREAM_TASK__CLASSES", json.dumps(records.CLASSES))
    monkeypatch.setenv("ALSTREAM_PATHS__STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ALSTREAM_IDENTITY__TOOLS", json.dumps({"lt": ["ann"]}))
    monkeypatch.setenv("ALSTREAM_TRAINER__RETRAIN_EVERY_LABELS", "1")  # the mode that reads the most
    monkeypatch.setenv("ALSTREAM_RELEASE__WEEKLY", "false")
    monkeypatch.setenv("ALSTREAM_RELEASE__POLL_INTERVAL_S", "0.5")
    configured = load_settings()
    create_topics(configured, specs=deployment_topics(configured.identity), partitions_override=2)
    return configured


def run_agent_until(
    settings: AlstreamSettings, agent: str, usage: Usage, done: Callable[[], object], what: str
) -> None:
    module = importlib.import_module(f"alstream.agents.{agent.replace('-', '_')}.main")
    stop = StopFlag()
    thread = threading.Thread(target=module.run, args=(settings,), kwargs={"stop": stop}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: done() or None, timeout_s=90, what=f"{agent}: {what}", diagnose=lambda: str(usage))
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive(), f"{agent} did not stop"


def bases(settings: AlstreamSettings, names: set[str]) -> set[str]:
    prefix = settings.kafka.topic_prefix
    return {name.removeprefix(prefix) for name in names if name.startswith(prefix)}


def assert_within(
    role: Role, settings: AlstreamSettings, usage: Usage, *, not_reached: frozenset[str] = frozenset()
) -> None:
    """Reads are exactly the grant, but for ``not_reached``: reads on a path this run does not take."""
    reads, writes = bases(settings, usage.reads), bases(settings, usage.writes)
    assert reads | not_reached == set(role.reads), (
        f"{role.name}: reads {sorted(reads)}, granted {sorted(role.reads)}"
    )
    assert writes <= set(role.writes), f"{role.name}: writes {sorted(writes - set(role.writes))} ungranted"
    described = bases(settings, usage.described)
    assert described <= set(role.reads) | set(role.writes), f"{role.name}: describes {sorted(described)}"
    for group in usage.groups:
        assert group in role.groups or group.startswith(role.group_prefixes), f"{role.name}: group {group}"


def matrix(settings: AlstreamSettings) -> dict[str, Role]:
    return {role.name: role for role in roles(settings)}


def send_label(settings: AlstreamSettings, label_id: str, topic_base: str = "labels") -> None:
    of = records.assignment(annotator_id="ann", assigned_at=datetime.now(UTC).replace(microsecond=0))
    record = records.label(label_id, of=of)
    produce_raw(settings, topic_base, codec_for("labels", settings).encode(record), key="it1")


def test_batch_agents_use_exactly_what_their_roles_grant(deployment: AlstreamSettings, usage: Usage) -> None:
    roles_by_name = matrix(deployment)
    prefix = deployment.kafka.topic_prefix

    def fresh() -> Usage:
        for kind in ("reads", "writes", "described", "groups"):
            getattr(usage, kind).clear()
        return usage

    # scorer: items in, scores and candidates out, the models topic followed
    from alstream.ingest.producer import ItemProducer

    with ItemProducer(settings=deployment, default_source="t") as sdk:
        assert not sdk.send_many([records.item(f"i{n}", seed=n) for n in range(50)])
        sdk.flush(30)
    fresh()  # the test's own clients (recorded too, when alstream imported them first) do not count
    run_agent_until(deployment, "scorer", usage, lambda: f"{prefix}scores" in usage.writes, "scores written")
    assert_within(roles_by_name["scorer"], deployment, usage)

    # labels: a label that is garbage is dead-lettered (the write the role grants)
    fresh()
    produce_raw(deployment, "labels", b"\x00 not a label, long enough to frame", key="it9")
    run_agent_until(
        deployment, "labels", usage, lambda: f"{prefix}dead-letters" in usage.writes, "a dead letter"
    )
    assert_within(roles_by_name["labels"], deployment, usage)

    # agreement: its readers and its loop over labels
    fresh()
    run_agent_until(
        deployment,
        "agreement",
        usage,
        lambda: {f"{prefix}labels", f"{prefix}candidates", f"{prefix}assignments"} <= usage.reads,
        "its topics read",
    )
    assert_within(roles_by_name["agreement"], deployment, usage)

    # release: an on-demand build reads what a release holds and announces it
    fresh()
    request_build(deployment)
    run_agent_until(deployment, "release", usage, lambda: f"{prefix}releases" in usage.writes, "a release")
    assert_within(roles_by_name["release"], deployment, usage)

    # trainer, retraining every label: a label makes it compact the labels so far as a release would
    fresh()
    send_label(deployment, "for-the-trainer")
    run_agent_until(
        deployment, "trainer", usage, lambda: f"{prefix}candidates" in usage.reads, "labels-so-far read"
    )
    # models: read to gate a trained model against the serving one; one label trains no model
    assert_within(roles_by_name["trainer"], deployment, usage, not_reached=frozenset({"models"}))

    # tool gateway: a bound annotator's label forwarded
    fresh()
    send_label(deployment, "through-the-gateway", "tool.lt.labels")
    run_agent_until(deployment, "tool-gateway", usage, lambda: f"{prefix}labels" in usage.writes, "forwarded")
    assert_within(roles_by_name["tool-gateway"], deployment, usage)


def test_router_side_readers_stay_within_its_grants(deployment: AlstreamSettings, usage: Usage) -> None:
    """The router's librdkafka clients: its batch loop, side readers, status and dead letters."""
    prefix = deployment.kafka.topic_prefix
    run_agent_until(
        deployment, "router", usage, lambda: f"{prefix}calibration" in usage.reads, "calibration followed"
    )
    role = matrix(deployment)["router"]
    assert bases(deployment, usage.reads) <= set(role.reads)
    assert bases(deployment, usage.writes) <= set(role.writes)
    for group in usage.groups:
        assert group in role.groups or group.startswith(role.group_prefixes), group


@pytest.fixture(autouse=True)
def _no_leaked_agents() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    leaked = [t for t in threading.enumerate() if t not in before and t.name.startswith("alstream")]
    assert not leaked, leaked
