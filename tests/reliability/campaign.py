"""A fault-injection campaign: steady load through the real agents while they are SIGKILLed and the
broker is frozen, then a check that nothing acknowledged was lost (see :mod:`checker`).

Load: items through the ingestion SDK (plus raw bad records that bypass it), assignments and labels
(valid and invalid) as the router and annotation tools would write them. Agents: the scorer and the
labels agent; the router, with annotators using the annotation SDK, when ``agent_kills`` names it.
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
from faults import AgentProcess, BrokerFreezer, FaultLog  # type: ignore[import-not-found]

from alstream.ingest.producer import ItemProducer
from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.embedded_broker import EmbeddedBroker
from alstream.streams.kafka_config import producer_config
from alstream.streams.topics import create_topics

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
    agent_kills: dict[str, int] = field(default_factory=lambda: {"scorer": 4, "labels": 3})
    annotators: int = 3  # human stand-ins using the annotation SDK (only when the router runs)
    max_hard_per_day: int = 2  # low, so annotators reach the cap and a restarted router must remember it
    broker_freezes: int = 2
    freeze_s: tuple[float, float] = (3.0, 6.0)
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
        self.faults = FaultLog()
        self.ledger = Ledger()
        self.stop_load = threading.Event()
        self.errors: list[str] = []

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
        }

    def run(self) -> Any:
        from checker import check  # type: ignore[import-not-found]

        with EmbeddedBroker(log_file=self.workdir / "tansu.log") as broker:
            env = self._settings_env(broker)
            # The campaign's own settings come from the same mapping the agents get as their
            # environment (without any ALSTREAM_* / KAFKA_* of the caller's); nothing is written to
            # this process's environment.
            settings = load_settings(environ=agent_env(env, self.workdir / "checker", {}), config_file=None)
            create_topics(settings, partitions_override=self.config.partitions)
            freezer = BrokerFreezer(pid=broker.pid or 0)
            agents = {
                "scorer": AgentProcess(
                    "scorer",
                    agent_env(
                        env,
                        self.workdir / "scorer",
                        {
                            "ALSTREAM_PATHS__POLICY_FILE": str(write_policy(self.workdir)),
                            "ALSTREAM_SCORER__BATCH_SIZE": "500",
                        },
                    ),
                    self.workdir,
                    ready_marker="alstream.agents.scorer.main: policy",
                ),
                "labels": AgentProcess(
                    "labels",
                    agent_env(
                        env,
                        self.workdir / "labels",
                        {
                            "ALSTREAM_LABELS__HOLD_UNKNOWN_S": "3",
                        },
                    ),
                    self.workdir,
                    ready_marker="committed labels restored",
                ),
            }
            self.router_metrics_port = None
            if self.config.agent_kills.get("router") is not None:
                from alstream.streams.embedded_broker import free_port

                self.router_metrics_port = free_port()
                agents["router"] = AgentProcess(
                    "router",
                    agent_env(
                        env,
                        self.workdir / "router",
                        {
                            "ALSTREAM_METRICS__PORT": str(self.router_metrics_port),
                        },
                    ),
                    self.workdir,
                    ready_marker="restored:",
                )
            for agent in agents.values():
                agent.start()
            threads = [
                threading.Thread(target=self._guard, args=(self._item_load, settings), name="items"),
                threading.Thread(target=self._guard, args=(self._label_load, settings), name="labels"),
                threading.Thread(target=self._guard, args=(self._inject, agents, freezer), name="faults"),
            ]
            if "router" in agents:
                threads.append(
                    threading.Thread(target=self._guard, args=(self._annotate, settings), name="annotators")
                )
            started = time.monotonic()
            try:
                for thread in threads:
                    thread.start()
                time.sleep(self.config.duration_s)
            finally:
                self.stop_load.set()
                for thread in threads:
                    thread.join(timeout=120)
                if freezer.frozen:
                    freezer.thaw()
            load_s = time.monotonic() - started
            for name, agent in agents.items():  # every agent is up again for the drain
                if not agent.running:
                    self.faults.note("agent found dead", name)
                    agent.start()
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
            )
            for agent in agents.values():
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
                self.ledger.items_sent.update(b["item_id"] for b in batch if b["item_id"] not in rejected)
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
                        client.flush(60)
                    with self.ledger.lock:
                        self.ledger.valid_labels.update(pending)
                        self.ledger.annotator_labels += len(pending)
                    pending, last_flush = [], time.monotonic()
            for client in clients:
                client.flush(60)
            with self.ledger.lock:
                self.ledger.valid_labels.update(pending)
                self.ledger.annotator_labels += len(pending)
        finally:
            for client in clients:
                client.close()

    # ------------------------------------------------------------------ faults

    def _inject(self, agents: dict[str, AgentProcess], freezer: BrokerFreezer) -> None:
        plan = [("kill", name) for name, times in self.config.agent_kills.items() for _ in range(times)]
        plan += [("freeze", "broker")] * self.config.broker_freezes
        self.rng.shuffle(plan)
        # Spread the faults over the load, leaving the first and last 10% quiet.
        usable = self.config.duration_s * 0.8
        slots = sorted(self.config.duration_s * 0.1 + self.rng.random() * usable for _ in plan)
        start = time.monotonic()
        for (action, target), at in zip(plan, slots, strict=True):
            while time.monotonic() - start < at:
                if self.stop_load.wait(0.1):
                    return
            if action == "kill":
                agent = agents[target]
                if not agent.wait_ready():
                    self.faults.note(f"{target} not ready within 90 s", f"start #{agent.starts}")
                time.sleep(self.rng.uniform(0.0, 3.0))  # a random point of its work
                agent.kill()
                self.faults.note(f"SIGKILL {target}", f"start #{agent.starts}")
                time.sleep(self.rng.uniform(0.2, 2.0))
                agent.start()
            else:
                pause = self.rng.uniform(*self.config.freeze_s)
                freezer.freeze()
                self.faults.note("broker unreachable (SIGSTOP)", f"{pause:.1f}s")
                time.sleep(pause)
                freezer.thaw()
