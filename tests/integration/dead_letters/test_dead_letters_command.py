"""`alstream dead-letters` against a real broker and a real scorer: list, tail, fix, replay, scored.

The story an operator lives: a producer starts writing items with a newer schema version the
running scorer does not know. The scorer dead-letters them (UnknownSchema) and keeps going. The
operator finds them with `list`, ships the new schema to the scorer (its schema folder's history)
and restarts it, then `replay`s them: the original bytes, key and headers go back to the partition
they came from, and the scorer scores them. A second replay sends nothing.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import fastavro
import numpy as np
import pytest
from confluent_kafka import Producer

from alstream.settings import AlstreamSettings
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.kafka_config import producer_config
from alstream.streams.schemas import fingerprint_of, parse
from tests.support.topics import read_messages
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
ALSTREAM = str(Path(sys.executable).with_name("alstream"))


def newer_items_schema() -> dict[str, Any]:
    """items.avsc plus one optional field: what a producer upgraded ahead of the scorer writes."""
    schema = json.loads((REPO / "schemas" / "items.avsc").read_text())
    schema["fields"].append({"name": "camera_id", "type": ["null", "string"], "default": None})
    return schema


def encode_single_object(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    parsed = parse(schema)
    _, fp = fingerprint_of(parsed)
    body = io.BytesIO()
    fastavro.schemaless_writer(body, parsed, record)
    return b"\xc3\x01" + fp + body.getvalue()


def item(item_id: str, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "item_id": item_id,
        "source": "camera-fleet",
        "unit_of_work": "ITEM",
        "embedding": rng.normal(size=64).astype("<f4").tobytes(),
        "probabilities": None,
        "event_time": int(time.time() * 1000),
    }


class Scorer:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [ALSTREAM, "agent", "scorer"], env=self.env, stdout=sink, stderr=subprocess.STDOUT
            )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ALSTREAM, "dead-letters", *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )


@pytest.fixture
def env(topics: AlstreamSettings, tmp_path: Path, group_id: str) -> dict[str, str]:
    schema_dir = tmp_path / "schemas"
    shutil.copytree(REPO / "schemas", schema_dir)
    policy = tmp_path / "policy.toml"
    policy.write_text('version = "dl-1"\ngoal = "test"\nwindow_seconds = 1.0\n[signal]\nname = "entropy"\n')
    return {
        **os.environ,
        "ALSTREAM_SCHEMA_DIR": str(schema_dir),
        "ALSTREAM_SCORER__GROUP_ID": group_id,
        "ALSTREAM_SCORER__MODEL_CATCH_UP_S": "1",
        "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state"),
        "ALSTREAM_PATHS__POLICY_FILE": str(policy),
        "ALSTREAM_TASK__CLASSES": '["a", "b", "c"]',
    }


def test_a_dead_lettered_item_is_listed_replayed_after_the_fix_and_scored(
    topics: AlstreamSettings, env: dict[str, str], tmp_path: Path
) -> None:
    scorer = Scorer(env, tmp_path / "scorer.log")
    scorer.start()
    try:
        producer = Producer(producer_config(topics))
        items_topic = topics.kafka.topic("items")
        producer.produce(
            items_topic, key="item-old-1", value=SingleObjectCodec("items").encode(item("item-old-1", 1))
        )
        new_schema = newer_items_schema()
        newer = {**item("item-new-1", 2), "camera_id": "cam-7"}
        producer.produce(
            items_topic,
            key="item-new-1",
            value=encode_single_object(new_schema, newer),
            headers=[("traceparent", b"00-abc-def-01")],
        )
        assert producer.flush(30) == 0

        def listed() -> list[dict[str, Any]]:
            result = cli(env, "list", "--json", "--source-topic", "items")
            assert result.returncode == 0, result.stderr
            return json.loads(result.stdout)

        letters = wait_until(
            listed,
            timeout_s=90,
            interval_s=1.0,
            what="the scorer's dead letter",
            diagnose=lambda: scorer.log.read_text()[-3000:],
        )
        assert [d["key"] for d in letters] == ["item-new-1"], [
            (d["key"], d["error_class"], d["error_message"]) for d in letters
        ]
        (letter,) = letters
        assert letter["agent"] == "scorer" and letter["source_topic"] == items_topic
        assert letter["error_class"] == "UnknownSchema", letter
        assert letter["headers"] == {"traceparent": "00-abc-def-01"}  # the original's own headers
        table = cli(env, "list", "--error-class", "UnknownSchema")
        assert table.returncode == 0 and letter["id"] in table.stdout and "UnknownSchema" in table.stdout
        assert json.loads(cli(env, "list", "--json", "--error-class", "WrongMagic").stdout) == []
        tailed = cli(env, "tail", "--from-beginning", "--max", "1", "--json")
        assert json.loads(tailed.stdout.splitlines()[0])["id"] == letter["id"]

        # The fix: the scorer gets the producer's newer schema and restarts.
        scorer.stop()
        (Path(env["ALSTREAM_SCHEMA_DIR"]) / "history" / "items.v3.avsc").write_text(json.dumps(new_schema))
        scorer.start()

        replayed = cli(env, "replay", "--error-class", "UnknownSchema", "--json")
        assert replayed.returncode == 0, replayed.stderr
        (outcome,) = json.loads(replayed.stdout)
        assert outcome["outcome"] == "replayed", outcome
        assert outcome["detail"].startswith(f"to {items_topic}[{letter['source_partition']}]@")

        scores = SingleObjectCodec("scores")

        def scored() -> bool:
            return "item-new-1" in {
                scores.decode(m.value())["item_id"] for m in read_messages(topics, "scores")
            }

        wait_until(
            scored,
            timeout_s=90,
            interval_s=1.0,
            what="the replayed item to be scored",
            diagnose=lambda: scorer.log.read_text()[-3000:],
        )

        copies = [m for m in read_messages(topics, "items") if m.key() == b"item-new-1"]
        assert len(copies) == 2  # the original and exactly one replay
        original, again = sorted(copies, key=lambda m: m.offset())
        assert again.value() == original.value() and again.partition() == original.partition()
        headers = dict(again.headers())
        assert headers["traceparent"] == b"00-abc-def-01"
        assert headers["alstream.replay.dead-letter"].decode().endswith(letter["id"])

        second = cli(env, "replay", "--error-class", "UnknownSchema", "--json")
        assert json.loads(second.stdout)[0]["outcome"] == "already replayed"
        assert len([m for m in read_messages(topics, "items") if m.key() == b"item-new-1"]) == 2
    finally:
        scorer.stop()


def test_replay_without_a_filter_is_refused(topics: AlstreamSettings, env: dict[str, str]) -> None:
    result = cli(env, "replay")
    assert result.returncode == 2
    assert "error: replay needs a filter" in result.stderr
