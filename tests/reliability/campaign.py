"""A fault-injection campaign: steady load through the real agents while they are SIGKILLed, the broker
is paused and hostile records arrive on every topic, then a per-item check that nothing acknowledged was
lost (see :mod:`checker`).

Load: items through the ingestion SDK (plus raw bad records that bypass it), assignments and labels
(valid and invalid) as the router and annotation tools would write them, annotators using the annotation
SDK in process, ``alstream annotate --auto`` processes, release requests to the release agent, and rounds
of the hostile-record set (:mod:`hostile`). Processes: all six agents and the annotation clients, each
killed with SIGKILL at random points and restarted; a watcher restarts any that exits on its own and
counts it (more than ``crash_loop_after`` is a crash-loop). Broker pauses: short freezes at random and
the long ``pauses_s`` (SIGSTOP / SIGCONT of the embedded broker).
Everything is seeded, so a failing campaign can be replayed with the same ``seed``.
"""

from __future__ import annotations

import os
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from confluent_kafka import Producer

from alstream.ingest.producer import ItemProducer
from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.embedded_broker import EmbeddedBroker
from alstream.streams.kafka_config import producer_config
from alstream.streams.topics import create_topics
from tests.reliability.faults import AgentProcess, BrokerFreezer, FaultLog, Watcher
from tests.reliability.hostile import Hostile, hostile_records

AGENTS = ("scorer", "router", "labels", "agreement", "release", "trainer")
# A log line each process prints once it is processing (so a kill lands mid-work, and recovery is timed
# to it).
READY_MARKERS = {
    "scorer": "alstream.agents.scorer.main: policy",
    "router": "router serving shards",  # logged once every shard it owns is restored
    "labels": "committed labels restored",
    "agreement": "committed labels restored",
    "release": "release agent up",
    "trainer": "the Kafka cluster answered; starting",
    "annotate": "",
}

CLASSES = ["cat", "dog", "bird"]
DIM = 16
BAD_ITEM_KINDS = ("random_bytes", "wrong_dimension", "wrong_magic", "truncated")
BAD_LABEL_KINDS = (
    "wrong_annotator",
    "value_not_in_classes",
    "submitted_before_started",
    "unknown_assignment",
    "garbage",
)


@dataclass
class CampaignConfig:
    duration_s: float = 60.0
    items_per_s: int = 300
    labels_per_s: int = 15
    bad_item_share: float = 0.01
    bad_label_share: float = 0.15
    # SIGKILLs per process kind: an agent's name, or "annotate" (one of the annotation-client processes)
    agent_kills: dict[str, int] = field(default_factory=lambda: {"scorer": 4, "labels": 3})
    annotators: int = 3  # human stand-ins using the annotation SDK in this process
    annotate_processes: int = 2  # `alstream annotate --auto` processes (killed as "annotate")
    max_hard_per_day: int = 2  # low, so annotators reach the cap and a restarted router must remember it
    broker_freezes: int = 2
    freeze_s: tuple[float, float] = (3.0, 6.0)
    pauses_s: tuple[float, ...] = ()  # long broker pauses, each of exactly this many seconds
    hostile_rounds: int = 1  # rounds of the hostile-record set (every input topic)
    release_every_s: float = 20.0  # release requests to the release agent (its trainer retrains)
    crash_loop_after: int = 3  # more unexpected exits than this, of one process, is a crash-loop
    progress: bool = False  # print faults as they happen
    drain_timeout_s: float = 120.0
    partitions: int = 2
    seed: int = 9


@dataclass
class Ledger:
    """What the load generators know was acknowledged by the broker, and what it should become."""

    items_sent: set[str] = field(default_factory=set)
    item_failures: set[str] = field(default_factory=set)
    sdk_rejected: int = 0
    sdk_invalid_sent: int = 0
    bad_items: dict[str, str] = field(default_factory=dict)  # key -> kind, acknowledged raw bad records
    valid_labels: set[str] = field(default_factory=set)
    annotator_labels: int = 0
    assignments_received: int = 0
    bad_labels: dict[str, str] = field(default_factory=dict)  # label id (or key) -> kind
    assignments: int = 0
    item_sent_at: dict[str, float] = field(default_factory=dict)  # item id -> time.time() when sent
    # "topic:partition:offset" -> the hostile record there (acknowledged ones only)
    hostile: dict[str, Hostile] = field(default_factory=dict)
    release_requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def acknowledged_items(self) -> set[str]:
        return self.items_sent - self.item_failures


def agent_env(settings_env: dict[str, str], state: Path, extra: dict[str, str]) -> dict[str, str]:
    """A child's environment: the caller's, less its alstream / Kafka settings, plus the campaign's."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("ALSTREAM_", "KAFKA_"))}
    return {**inherited, **settings_env, "ALSTREAM_PATHS__STATE_DIR": str(state), **extra}


def write_quotas(folder: Path, max_hard_per_day: int) -> Path:
    path = folder / "quotas.toml"
    path.write_text(
        f'version = "q-faults"\nmax_hard_per_day = {max_hard_per_day}\n'
        "lease_seconds = 900\nmax_in_flight = 5\n",
        encoding="utf-8",
    )
    return path


def write_policy(folder: Path) -> Path:
    path = folder / "policy.toml"
    path.write_text(
        'version = "faults-1"\ngoal = "fault campaign"\nwindow_seconds = 2.0\ncandidates_per_window = 20\n'
        '[signal]\nname = "entropy"\n',
        encoding="utf-8",
    )
    return path


class Campaign:
    def __init__(self, config: CampaignConfig, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.rng = random.Random(config.seed)
        self.faults = FaultLog(echo=config.progress)
        self.ledger = Ledger()
        self.stop_load = threading.Event()
        self.errors: list[str] = []
        self.pauses: list[tuple[float, float]] = []  # (SIGSTOP at, SIGCONT at), time.time()

    # ------------------------------------------------------------------ set-up

    def _settings_env(self, broker: EmbeddedBroker) -> dict[str, str]:
        return {
            **broker.client_environment(),
            "ALSTREAM_KAFKA__TOPIC_PREFIX": f"faults{self.config.seed}.",
            "ALSTREAM_KAFKA__SESSION_TIMEOUT_MS": "6000",
            "ALSTREAM_METRICS__PORT": "0",
            "ALSTREAM_TASK__CLASSES": '["cat", "dog", "bird"]',
            "ALSTREAM_INGEST__EMBEDDING_DIM": str(DIM),
            "ALSTREAM_PATHS__QUOTAS_FILE": str(write_quotas(self.workdir, self.config.max_hard_per_day)),
            "ALSTREAM_PATHS__POLICY_FILE": str(write_policy(self.workdir)),
            "ALSTREAM_TRAINER__VALIDATION_FILE": str(
                write_labeled_set(self.workdir / "validation.npz", prefix="val", seed=self.config.seed)
            ),
            # A seed set, so every release gives the trainer something to learn: models are trained,
            # announced and hot-swapped into the scorer during the campaign.
            "ALSTREAM_TRAINER__SEED_FILE": str(
                write_labeled_set(self.workdir / "seed.npz", prefix="seed", seed=self.config.seed + 1)
            ),
            "PYTHONUNBUFFERED": "1",
        }

    def _processes(self, env: dict[str, str]) -> dict[str, AgentProcess]:
        """All six agents and the annotation clients; one state folder, as one host would have."""
        state = self.workdir / "state"
        extra = {
            "scorer": {"ALSTREAM_SCORER__BATCH_SIZE": "500"},
            "labels": {"ALSTREAM_LABELS__HOLD_UNKNOWN_S": "3"},
            "router": {"ALSTREAM_METRICS__PORT": str(self.router_metrics_port)},
            "release": {"ALSTREAM_RELEASE__POLL_INTERVAL_S": "2"},
        }
        processes = {
            name: AgentProcess(
                name,
                agent_env(env, state, extra.get(name, {})),
                self.workdir,
                ready_marker=READY_MARKERS[name],
            )
            for name in AGENTS
        }
        for k in range(self.config.annotate_processes):
            name = f"annotate-{k}"
            processes[name] = AgentProcess(
                name,
                agent_env(env, state, {}),
                self.workdir,
                ready_marker=READY_MARKERS["annotate"],
                args=[
                    "annotate",
                    "--annotator",
                    f"annot-{k}",
                    "--auto",
                    "--seconds-per-item",
                    "0.2",
                    "--seed",
                    str(self.config.seed + k),
                ],
            )
        return processes

    def run(self) -> Any:
        from tests.reliability.checker import check

        with EmbeddedBroker(log_file=self.workdir / "tansu.log") as broker:
            env = self._settings_env(broker)
            # The campaign's own settings come from the same mapping the agents get as their
            # environment (without any ALSTREAM_* / KAFKA_* of the caller's); nothing is written to
            # this process's environment.
            settings = load_settings(environ=agent_env(env, self.workdir / "checker", {}), config_file=None)
            create_topics(settings, partitions_override=self.config.partitions)
            freezer = BrokerFreezer(pid=broker.pid or 0)
            from alstream.streams.embedded_broker import free_port

            self.router_metrics_port = free_port()
            agents = self._processes(env)
            self.release_settings = load_settings(
                environ=agent_env(env, self.workdir / "state", {}), config_file=None
            )
            watcher = Watcher(
                processes=agents, faults=self.faults, crash_loop_after=self.config.crash_loop_after
            )
            self.watcher = watcher
            for agent in agents.values():
                with agent.lock:
                    agent.start()
                    watcher.started(agent)
            threads = [
                threading.Thread(target=self._guard, args=(self._item_load, settings), name="items"),
                threading.Thread(target=self._guard, args=(self._label_load, settings), name="labels"),
                threading.Thread(target=self._guard, args=(self._inject, agents, freezer), name="faults"),
                threading.Thread(target=self._guard, args=(self._annotate, settings), name="annotators"),
                threading.Thread(target=self._guard, args=(self._hostile, settings), name="hostile"),
                threading.Thread(target=self._guard, args=(self._request_releases,), name="releases"),
                threading.Thread(target=watcher.run, name="watcher"),
            ]
            started = time.monotonic()
            try:
                for thread in threads:
                    thread.start()
                time.sleep(self.config.duration_s)
            finally:
                self.stop_load.set()
                for thread in threads:
                    if thread.name != "watcher":
                        thread.join(timeout=max(120, max(self.config.pauses_s, default=0) + 60))
                if freezer.frozen:
                    freezer.thaw()
            load_s = time.monotonic() - started
            report = check(
                settings,
                self.ledger,
                self.faults,
                agents,
                drain_timeout_s=self.config.drain_timeout_s,
                load_s=load_s,
                errors=self.errors,
                router_metrics_port=self.router_metrics_port,
                max_hard_per_day=self.config.max_hard_per_day,
                watcher=watcher,
                pauses=self.pauses,
            )
            watcher.stop.set()  # stopping them is not a crash
            for thread in threads:
                thread.join(timeout=10)
            for agent in agents.values():
                with agent.lock:
                    agent.stop()
            return report

    def _guard(self, target: Any, *args: Any) -> None:
        try:
            target(*args)
        except Exception as exc:  # noqa: BLE001 - a thread's exception would otherwise be lost
            # surfaced in the report: a crashed load generator is a failed campaign
            self.errors.append(f"{threading.current_thread().name}: {type(exc).__name__}: {exc}")
            self.stop_load.set()

    # ------------------------------------------------------------------ load

    def _item_load(self, settings: AlstreamSettings) -> None:
        rng = np.random.default_rng(self.config.seed)
        raw = Producer(producer_config(settings))
        codec = SingleObjectCodec("items")
        topic = settings.kafka.topic("items")
        tick = 0.1
        per_tick = max(1, int(self.config.items_per_s * tick))
        n = 0
        with ItemProducer(settings=settings, default_source="faults") as sdk:
            while not self.stop_load.is_set():
                began = time.monotonic()
                batch = []
                for _ in range(per_tick):
                    n += 1
                    item_id = f"item-{n:07d}"
                    batch.append(
                        {
                            "item_id": item_id,
                            "embedding": rng.normal(size=DIM).astype("f4"),
                            "probabilities": rng.dirichlet([1, 1, 1]) if n % 2 else None,
                        }
                    )
                if self.rng.random() < 0.2:  # an invalid row through the SDK: refused there, never sent
                    batch.append({"item_id": f"sdk-bad-{n}", "embedding": [float("nan")] * DIM})
                    self.ledger.sdk_invalid_sent += 1
                rejections = sdk.send_many(batch)
                self.ledger.sdk_rejected += len(rejections)
                rejected = {r.item_id for r in rejections}
                sent = [b["item_id"] for b in batch if b["item_id"] not in rejected]
                self.ledger.items_sent.update(sent)
                at = time.time()
                self.ledger.item_sent_at.update((item_id, at) for item_id in sent)
                if self.rng.random() < self.config.bad_item_share * per_tick:
                    self._bad_item(raw, codec, topic, rng, n)
                sdk.poll(0)
                raw.poll(0)
                time.sleep(max(0.0, tick - (time.monotonic() - began)))
            report = sdk.flush(120)
        raw.flush(120)
        self.ledger.item_failures.update(f.item_id for f in report.failures)
        if report.pending:
            self.errors.append(f"items: {report.pending} still pending after the flush deadline")

    def _bad_item(self, raw: Producer, codec: SingleObjectCodec, topic: str, rng: Any, n: int) -> None:
        kind = self.rng.choice(BAD_ITEM_KINDS)
        key = f"bad-item-{n}-{kind}"
        good = codec.encode(
            {
                "item_id": key,
                "source": "faults",
                "unit_of_work": "ITEM",
                "embedding": rng.normal(size=DIM).astype("<f4").tobytes(),
                "probabilities": None,
                "hardness": None,
                "event_time": int(time.time() * 1000),
            }
        )
        value = {
            "random_bytes": bytes(self.rng.getrandbits(8) for _ in range(40)),
            "wrong_dimension": codec.encode(
                {
                    "item_id": key,
                    "source": "faults",
                    "unit_of_work": "ITEM",
                    "embedding": rng.normal(size=DIM + 3).astype("<f4").tobytes(),
                    "probabilities": None,
                    "hardness": None,
                    "event_time": 0,
                }
            ),
            "wrong_magic": b"\x00\x00" + good[2:],
            "truncated": good[: len(good) // 2],
        }[kind]

        def acked(err: Any, _msg: Any) -> None:
            if err is None:
                with self.ledger.lock:
                    self.ledger.bad_items[key] = kind

        raw.produce(topic, key=key, value=value, on_delivery=acked)

    def _label_load(self, settings: AlstreamSettings) -> None:
        producer = Producer(producer_config(settings))
        assignments, labels = SingleObjectCodec("assignments"), SingleObjectCodec("labels")
        a_topic, l_topic = settings.kafka.topic("assignments"), settings.kafka.topic("labels")
        pending: list[tuple[str, bytes, str, str]] = []  # labels wait one tick after their assignment
        n = 0
        tick = 0.2
        per_tick = max(1, int(self.config.labels_per_s * tick))
        while not self.stop_load.is_set():
            began = time.monotonic()
            for key, value, label_id, kind in pending:
                producer.produce(l_topic, key=key, value=value, on_delivery=self._label_acked(label_id, kind))
            pending = []
            now = datetime.now(UTC)
            for _ in range(per_tick):
                n += 1
                aid, annotator, item = f"as-{n}", f"synthetic-{n % 5}", f"item-{n:07d}"
                record = {
                    "assignment_id": aid,
                    "annotator_id": annotator,
                    "item_id": item,
                    "kind": "NORMAL",
                    "classes": CLASSES,
                    "uri": None,
                    "unit_of_work": "ITEM",
                    "policy_version": "faults-1",
                    "quota_version": "q1",
                    "model_version": "none",
                    "overlap_group": None,
                    "calibration_id": None,
                    "assigned_at": now,
                    "lease_expires_at": now + timedelta(hours=1),
                }
                producer.produce(a_topic, key=annotator, value=assignments.encode(record))
                self.ledger.assignments += 1
                kind = (
                    self.rng.choice(BAD_LABEL_KINDS)
                    if self.rng.random() < self.config.bad_label_share
                    else "valid"
                )
                label = {
                    "label_id": f"lb-{n}",
                    "assignment_id": aid,
                    "item_id": item,
                    "annotator_id": annotator,
                    "status": "LABELED",
                    "value": self.rng.choice(CLASSES),
                    "root_cause": None,
                    "started_at": now - timedelta(seconds=20),
                    "submitted_at": now,
                }
                if kind == "wrong_annotator":
                    label["annotator_id"] = "synthetic-intruder"
                elif kind == "value_not_in_classes":
                    label["value"] = "giraffe"
                elif kind == "submitted_before_started":
                    label["submitted_at"] = now - timedelta(seconds=40)
                elif kind == "unknown_assignment":
                    label["assignment_id"] = f"never-{n}"
                value = (
                    bytes(self.rng.getrandbits(8) for _ in range(30))
                    if kind == "garbage"
                    else labels.encode(label)
                )
                pending.append((item, value, label["label_id"], kind))
            producer.poll(0)
            time.sleep(max(0.0, tick - (time.monotonic() - began)))
        for key, value, label_id, kind in pending:
            producer.produce(l_topic, key=key, value=value, on_delivery=self._label_acked(label_id, kind))
        remaining = producer.flush(120)
        if remaining:
            self.errors.append(f"labels: {remaining} still pending after the flush deadline")

    def _label_acked(self, label_id: str, kind: str) -> Any:
        def acked(err: Any, msg: Any) -> None:
            if err is not None:
                return
            with self.ledger.lock:
                if kind == "valid":
                    self.ledger.valid_labels.add(label_id)
                else:
                    self.ledger.bad_labels[f"{msg.partition()}:{msg.offset()}"] = f"{kind}:{label_id}"

        return acked

    def _annotate(self, settings: AlstreamSettings) -> None:
        """Human stand-ins: say ready, take assignments, answer them with valid labels (the SDK checks
        them)."""
        from alstream.annotation.client import AnnotationClient

        clients = [
            AnnotationClient(settings=settings, annotator_id=f"human-{k}")
            for k in range(self.config.annotators)
        ]
        pending: list[str] = []
        idle_since: dict[str, float] = {}
        last_flush = time.monotonic()
        try:
            for client in clients:
                client.online()
                client.ready(5)
            while not self.stop_load.is_set():
                for client in clients:
                    received = client.assignments(0.2)
                    with self.ledger.lock:
                        self.ledger.assignments_received += len(received)
                    for assignment in received:
                        pending.append(
                            client.submit(
                                assignment,
                                value=self.rng.choice(assignment["classes"]),
                                started_at=assignment["assigned_at"],
                            )
                        )
                        client.ready(1)
                    if not received and time.monotonic() - idle_since.get(client.annotator_id, 0) > 3:
                        client.ready(
                            2
                        )  # idle: ask again, as a tool's heartbeat would (a router may have restarted)
                        idle_since[client.annotator_id] = time.monotonic()
                if time.monotonic() - last_flush > 2:
                    for client in clients:
                        client.flush()  # rides out a pause (kafka.outage_tolerance_s)
                    with self.ledger.lock:
                        self.ledger.valid_labels.update(pending)
                        self.ledger.annotator_labels += len(pending)
                    pending, last_flush = [], time.monotonic()
            for client in clients:
                client.flush()
            with self.ledger.lock:
                self.ledger.valid_labels.update(pending)
                self.ledger.annotator_labels += len(pending)
        finally:
            for client in clients:
                client.close()

    # ------------------------------------------------------------------ faults

    def _inject(self, agents: dict[str, AgentProcess], freezer: BrokerFreezer) -> None:
        plan: list[tuple[float, str, Any]] = []
        # Short faults spread over the load, leaving the first and last 10% quiet; long pauses at fixed
        # points, so each is preceded and followed by steady work.
        usable = self.config.duration_s * 0.8
        for name, times in self.config.agent_kills.items():
            for _ in range(times):
                plan.append((self.config.duration_s * 0.1 + self.rng.random() * usable, "kill", name))
        for _ in range(self.config.broker_freezes):
            pause = self.rng.uniform(*self.config.freeze_s)
            plan.append((self.config.duration_s * 0.1 + self.rng.random() * usable, "pause", pause))
        # Long pauses at 1/(n+2), 2/(n+2), ... of the load, so steady load follows the last one too.
        for k, pause in enumerate(self.config.pauses_s):
            plan.append((self.config.duration_s * (k + 1) / (len(self.config.pauses_s) + 2), "pause", pause))
        plan.sort(key=lambda step: step[0])
        start = time.monotonic()
        for at, action, target in plan:
            while time.monotonic() - start < at:
                if self.stop_load.wait(0.1):
                    return
            if self.stop_load.is_set():
                return
            if action == "kill":
                if target == "annotate":
                    names = sorted(n for n in agents if n.startswith("annotate-"))
                    if not names:
                        continue
                    target = self.rng.choice(names)
                agent = agents[target]
                if not agent.wait_ready():
                    self.faults.note(f"{target} not ready within 90 s", f"start #{agent.starts}")
                time.sleep(self.rng.uniform(0.0, 3.0))  # a random point of its work
                with agent.lock:
                    agent.kill()
                    self.faults.note(f"SIGKILL {target.split('-')[0]}", f"{target} start #{agent.starts}")
                    time.sleep(self.rng.uniform(0.2, 2.0))
                    agent.start()
                    self.watcher.started(agent)
            else:
                # During a long pause one agent is also killed and started while the broker does not
                # answer: it must wait for the cluster, not exit.
                restarted = agents[self.rng.choice(AGENTS)] if target >= 20 else None
                if restarted is not None:
                    restarted.lock.acquire()
                    restarted.kill()
                freezer.freeze()
                frozen_at = time.time()
                kind = "broker pause (SIGSTOP)" if target < 20 else f"broker pause of {target:g} s (SIGSTOP)"
                self.faults.note(kind, f"{target:.1f}s")
                if restarted is not None:
                    restarted.start()
                    restarted.lock.release()
                    self.faults.note("agent started during a broker pause", restarted.name)
                time.sleep(target)
                freezer.thaw()
                if restarted is not None:
                    self.watcher.started(restarted, since=time.time())
                self.pauses.append((frozen_at, time.time()))

    def _hostile(self, settings: AlstreamSettings) -> None:
        """Rounds of the hostile-record set, sent raw by a producer allowed records five times above the
        agents' limit (as a misconfigured producer would); each acknowledged one is in the ledger."""
        rounds = self.config.hostile_rounds
        if not rounds:
            return
        limit = settings.kafka.max_message_bytes
        producer = Producer(
            {
                **producer_config(settings),
                "message.max.bytes": 6 * limit,
                "enable.idempotence": False,
                "linger.ms": 0,
            }
        )
        for k in range(rounds):
            # the first round early (agents must move past it under load), the others spread over the run
            if self.stop_load.wait(self.config.duration_s * (0.15 + 0.6 * k / rounds) if k else 5.0):
                return
            records = hostile_records(
                round_id=f"r{k}",
                dim=DIM,
                classes=CLASSES,
                annotator="annot-0",
                annotators=[f"human-{k}" for k in range(self.config.annotators)]
                + [f"annot-{k}" for k in range(self.config.annotate_processes)],
                max_message_bytes=limit,
                workdir=self.workdir,
                seed=self.config.seed + k,
            )
            for record in records:
                producer.produce(
                    settings.kafka.topic(record.topic),
                    key=record.key,
                    value=record.value,
                    on_delivery=self._hostile_acked(record),
                )
                producer.poll(0)
            left = producer.flush(max(120, max(self.config.pauses_s, default=0) + 60))
            if left:
                self.errors.append(f"hostile records: {left} unacknowledged after the flush deadline")

    def _hostile_acked(self, record: Hostile) -> Any:
        def acked(err: Any, msg: Any) -> None:
            if err is not None:
                self.errors.append(f"hostile record {record.topic} / {record.kind} refused: {err}")
                return
            with self.ledger.lock:
                self.ledger.hostile[f"{msg.topic()}:{msg.partition()}:{msg.offset()}"] = record

        return acked

    def _request_releases(self) -> None:
        """On-demand release requests to the running release agent (its trainer trains on each)."""
        from alstream.agents.release.requests import request_build

        while not self.stop_load.wait(self.config.release_every_s):
            request_build(self.release_settings, reason="fault campaign")
            self.ledger.release_requests += 1


def write_labeled_set(path: Path, *, prefix: str, seed: int, count: int = 60) -> Path:
    """A labeled set for the trainer (its fixed validation set, its seed set), in the campaign's
    embedding size and classes."""
    rng = np.random.default_rng(seed)
    np.savez(
        path,
        item_ids=np.array([f"{prefix}-{k}" for k in range(count)]),
        embeddings=rng.normal(size=(count, DIM)).astype("f4"),
        labels=np.array([CLASSES[k % len(CLASSES)] for k in range(count)]),
    )
    return path
