"""The router as the integration tests run it: a subprocess (``alstream agent router``), simulated
annotators, candidates on the topic, whole-topic readers and what the router's log says it serves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from alstream.settings import AlstreamSettings
from alstream.streams.codecs import codec_for
from alstream.streams.kafka_config import consumer_config, producer_config
from tests.support import records

CLASSES = '["cat","dog","fox"]'


def start_router(
    log_file: Path, extra_env: dict[str, str] | None = None, *, log_level: str | None = None
) -> subprocess.Popen[bytes]:
    """The router as a subprocess; ``log_level`` (or ALSTREAM_TEST_ROUTER_LOG_LEVEL) INFO keeps its
    restore and rebalance lines in the log when chasing a flaky run."""
    # unbuffered: a SIGKILLed or exiting router keeps every line it logged
    env = {**os.environ, "ALSTREAM_TASK__CLASSES": CLASSES, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    with log_file.open("ab") as log:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "alstream.cli.main",
                "agent",
                "router",
                "--log-level",
                log_level or os.environ.get("ALSTREAM_TEST_ROUTER_LOG_LEVEL", "WARNING"),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    return process.wait(timeout=timeout_s)


def live_candidate(item_id: str, reason: str = "TOP_SCORE", score: float = 0.5) -> dict[str, Any]:
    """A candidate selected now: the router ages out candidates selected long ago."""
    return records.candidate(item_id, reason=reason, score=score, selected_at=datetime.now(tz=UTC))


def produce_candidates(settings: AlstreamSettings, candidates: list[dict[str, Any]]) -> None:
    producer = Producer(producer_config(settings))
    codec = codec_for("candidates", settings)
    for record in candidates:
        producer.produce(
            settings.kafka.topic("candidates"), key=record["item_id"].encode(), value=codec.encode(record)
        )
    assert producer.flush(30) == 0


def tail_of(log_file: Path, lines: int = 80) -> Callable[[], str]:
    """A ``diagnose`` for ``wait_until``: the last lines of a process's log (CI keeps no files, only
    output), without librdkafka's ``%`` lines."""

    def tail() -> str:
        if not log_file.exists():
            return f"({log_file.name} does not exist)"
        text = log_file.read_text(errors="replace").splitlines()
        kept = [line for line in text if not line.startswith("%")]
        return f"--- last lines of {log_file.name} ---\n" + "\n".join(kept[-lines:])

    return tail


class TopicReader:
    """Reads a whole topic from the start, incrementally; records by an id field (first copy kept)."""

    def __init__(self, settings: AlstreamSettings, base: str) -> None:
        self.codec = codec_for(base, settings)
        self.consumer = Consumer(
            consumer_config(
                settings, group_id=f"reader-{os.getpid()}-{base}", **{"enable.auto.commit": False}
            )
        )
        topic = settings.kafka.topic(base)
        partitions = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        self.records: dict[str, dict[str, Any]] = {}

    def read(self, id_field: str) -> dict[str, dict[str, Any]]:
        for message in self.consumer.consume(10_000, timeout=0.5):
            if not message.error():
                record = self.codec.decode(message.value())
                self.records.setdefault(record[id_field], record)
        return self.records


def annotate(annotator: str, truth: Path, log: Path) -> subprocess.Popen[bytes]:
    """A simulated annotator (`alstream annotate --auto`) that labels what it gets, 0.05 s per item."""
    env = {**os.environ, "ALSTREAM_TASK__CLASSES": CLASSES}
    with log.open("ab") as handle:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "alstream.cli.main",
                "annotate",
                "--annotator",
                annotator,
                "--auto",
                "--accuracy",
                "0.9",
                "--seconds-per-item",
                "0.05",
                "--truth",
                str(truth),
                "--seed",
                "1",
            ],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


def serving(log_file: Path) -> list[list[int]]:
    """The shard sets a router worker logged it serves, in order (one line per rebalance)."""
    if not log_file.exists():
        return []
    found = []
    for line in log_file.read_text(errors="replace").splitlines():
        if "router serving shards [" in line:
            inside = line.split("router serving shards [", 1)[1].split("]", 1)[0]
            found.append([int(x) for x in inside.split(",") if x.strip()])
    return found
