"""The scorer against a real broker: SIGKILL mid-stream and restart, model hot swap, prompt candidates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from confluent_kafka import Producer

from alstream.models.artifacts import save_bundle
from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.batch_loop import StopFlag
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.kafka_config import producer_config
from alstream.streams.reading import TopicTail
from tests.support import records
from tests.support.scorer import committee
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker

CLASSES = ["a", "b", "c"]
DIM = 64
ITEMS = SingleObjectCodec("items")


def produce_items(
    settings: AlstreamSettings, start: int, count: int, *, with_probs: bool | None = None
) -> list[str]:
    rng = np.random.default_rng(start)
    producer = Producer(producer_config(settings))
    topic = settings.kafka.topic("items")
    ids = []
    for i in range(start, start + count):
        probs = (i % 2 == 0) if with_probs is None else with_probs
        item_id = f"item-{i:06d}"
        record = {
            "item_id": item_id,
            "source": "test",
            "unit_of_work": "ITEM",
            "embedding": rng.normal(size=DIM).astype("<f4").tobytes(),
            "probabilities": rng.dirichlet([1, 1, 1]).astype("<f4").tobytes() if probs else None,
            "event_time": int(time.time() * 1000),
        }
        producer.produce(topic, key=item_id, value=ITEMS.encode(record))
        ids.append(item_id)
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0
    return ids


class TopicReader:
    """Follows a whole topic from the beginning, accumulating decoded records."""

    def __init__(self, settings: AlstreamSettings, base: str) -> None:
        self.base = base
        self.codec = SingleObjectCodec(base)
        self.tail = TopicTail(settings=settings, topics=[settings.kafka.topic(base)], patience_s=30)
        self.records: list[dict[str, Any]] = []

    def take(self) -> list[dict[str, Any]]:
        """Every record so far (what arrived since the last call appended)."""
        self.records.extend(self.codec.decode(m.value()) for m in self.tail.poll(timeout_s=0.2))
        return self.records

    def read_until(self, done, timeout_s: float, log: Path | None = None) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
        """The records, once ``done(records)`` holds; fails after ``timeout_s`` with the agent's log tail."""
        wait_until(
            lambda: done(self.take()),
            timeout_s=timeout_s,
            interval_s=0,  # take() itself waits for records
            what=f"records on {self.base}",
            diagnose=lambda: (
                f"{len(self.records)} so far\n" + (log.read_text()[-6000:] if log is not None else "")
            ),
        )
        return self.records

    def close(self) -> None:
        self.tail.close()


def write_policy(tmp_path: Path, *, window_seconds: float = 2.0) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(
        f'version = "it-1"\ngoal = "test"\nwindow_seconds = {window_seconds}\ncandidates_per_window = 5\n'
        '[signal]\nname = "entropy"\n',
        encoding="utf-8",
    )
    return path


def scorer_env(tmp_path: Path, group_id: str) -> dict[str, str]:
    return {
        **os.environ,
        "ALSTREAM_SCORER__GROUP_ID": group_id,
        "ALSTREAM_SCORER__BATCH_SIZE": "200",
        "ALSTREAM_SCORER__MODEL_CATCH_UP_S": "1",
        "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state"),
        "ALSTREAM_PATHS__POLICY_FILE": str(write_policy(tmp_path)),
        "ALSTREAM_TASK__CLASSES": '["a", "b", "c"]',
    }


def start_scorer(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("alstream")
    with log.open("ab") as sink:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([str(exe), "agent", "scorer"], env=env, stdout=sink, stderr=subprocess.STDOUT)


def test_sigkill_mid_stream_loses_nothing_and_never_rescores_differently(
    topics: AlstreamSettings, group_id: str, tmp_path: Path
) -> None:
    env = scorer_env(tmp_path, group_id)
    log = tmp_path / "scorer.log"
    total = 8000
    produced: list[str] = []

    def keep_producing() -> None:  # items keep arriving while the scorer is killed and restarted
        for start in range(0, total, 500):
            produced.extend(produce_items(topics, start, 500))
            time.sleep(0.5)

    feeder = threading.Thread(target=keep_producing, daemon=True)
    reader = TopicReader(topics, "scores")
    proc = start_scorer(env, log)
    try:
        feeder.start()
        reader.read_until(lambda r: len(r) >= 300, 90, log)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert feeder.is_alive(), "the scorer was killed after the last item arrived: not mid-stream"
        proc = start_scorer(env, log)
        feeder.join(60)
        wanted = set(produced)
        scores = reader.read_until(lambda r: wanted <= {x["item_id"] for x in r}, 120, log)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()[-6000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.close()
    assert len(wanted) == total
    scored = {r["item_id"] for r in scores}
    assert wanted <= scored, f"{len(wanted - scored)} items never scored"
    values: dict[tuple[str, str], set[float]] = defaultdict(set)
    for r in scores:
        values[(r["item_id"], r["model_version"])].add(r["score"])
        assert r["policy_version"] == "it-1"
    assert all(len(v) == 1 for v in values.values())
    assert {r["model_version"] for r in scores} == {"production", "none"}
    print(f"{len(scores) - len(scored)} scores re-emitted after the SIGKILL, all identical")


def test_hot_swap_and_prompt_candidates(
    topics: AlstreamSettings, group_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alstream.agents.scorer.main import run

    for key, value in scorer_env(tmp_path, group_id).items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    stop = StopFlag()
    thread = threading.Thread(target=run, args=(settings,), kwargs={"stop": stop}, daemon=True)
    thread.start()
    scores = TopicReader(settings, "scores")
    candidates = TopicReader(settings, "candidates")
    try:
        first = produce_items(settings, 0, 300, with_probs=False)
        got = scores.read_until(lambda r: len({x["item_id"] for x in r}) >= 300, 60)
        assert {r["model_version"] for r in got} == {"none"}
        # low rate: candidates of the first window arrive on idle, without more items
        cands = candidates.read_until(lambda r: len(r) > 0, 30)
        assert cands and {c["policy_version"] for c in cands} == {"it-1"}

        bundle = committee(CLASSES, DIM)
        artifact = tmp_path / "state" / "models" / "m2.skops"  # the scorer's model store
        sha = save_bundle(bundle, artifact)
        announce = SingleObjectCodec("models").encode(
            records.model_announcement(
                "m2",
                artifact_uri=str(artifact),
                artifact_sha256=sha,
                classes=CLASSES,
                embedding_dim=DIM,
                created_at=datetime.now(UTC),
            )
        )
        producer = Producer(producer_config(settings))
        producer.produce(settings.kafka.topic("models"), key="default", value=announce)
        assert producer.flush(10) == 0
        fed: list[str] = []

        def swapped() -> bool:  # items keep flowing until the new version is stamped on scores
            fed.extend(produce_items(settings, 1000 + len(fed), 100, with_probs=False))
            return any(x["model_version"] == "m2" for x in scores.take())

        wait_until(swapped, timeout_s=60, interval_s=1.5, what="scores stamped with the announced model m2")
        wanted = set(first) | set(fed)
        got = scores.read_until(lambda r: wanted <= {x["item_id"] for x in r}, 60)
        assert wanted <= {x["item_id"] for x in got}
        assert any(x["model_version"] == "m2" and x["signal"] == "entropy" for x in got)
    finally:
        stop.set()
        thread.join(30)
        scores.close()
        candidates.close()
    assert not thread.is_alive()
