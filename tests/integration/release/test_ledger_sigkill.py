"""A release ledger sync killed with SIGKILL mid-read and run again loses nothing and stores nothing
twice: records and the cursor that says how far they were read commit in one SQLite transaction."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from confluent_kafka import Producer

from alstream.agents.release.ledger import LEDGER_FILE
from alstream.agents.release.service import build_and_announce, synced_ledger
from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.codecs import codec_for
from alstream.streams.kafka_config import producer_config
from tests.support.records import T0, assignment, label
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker

COUNT = 6_000

# A sync through a reader throttled to small batches, so the kill lands mid-read.
SLOW_SYNC = """
import time
from alstream.agents.release.service import synced_ledger
from alstream.settings import load_settings
from alstream.streams.reading import TopicTail

class Throttled(TopicTail):
    def poll(self, **kwargs):
        kwargs["max_messages"] = 50
        time.sleep(0.02)
        return super().poll(**kwargs)

synced_ledger(load_settings(), reader=Throttled).close()
"""


def stored_labels(path: Path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        try:
            return int(db.execute("SELECT count(*) FROM labels").fetchone()[0])
        except sqlite3.OperationalError:  # the schema is not created yet
            return 0


def test_a_sync_killed_mid_read_resumes_without_loss_or_duplicates(
    topics: AlstreamSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALSTREAM_PATHS__STATE_DIR", str(tmp_path))
    monkeypatch.setenv("ALSTREAM_TASK__CLASSES", '["cat", "dog", "fox"]')
    settings = load_settings()
    producer = Producer(producer_config(settings))
    codecs = {name: codec_for(name, settings) for name in ("assignments", "labels")}
    for n in range(COUNT):
        a = assignment(
            f"a{n}", annotator_id=f"ann{n % 7}", item_id=f"it{n}", assigned_at=T0 + timedelta(seconds=n)
        )
        producer.produce(
            settings.kafka.topic("assignments"), key=a["annotator_id"], value=codecs["assignments"].encode(a)
        )
        lab = label(f"l{n}", of=a)
        producer.produce(
            settings.kafka.topic("labels"), key=lab["item_id"], value=codecs["labels"].encode(lab)
        )
        producer.poll(0)
    assert producer.flush(60) == 0

    path = tmp_path / LEDGER_FILE
    log = tmp_path / "sync.log"
    with log.open("wb") as sink:
        child = subprocess.Popen([sys.executable, "-c", SLOW_SYNC], stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_until(
            lambda: stored_labels(path) >= 500 or child.poll() is not None,
            timeout_s=120,
            what="the throttled sync to store some labels",
            diagnose=lambda: log.read_text()[-2000:],
        )
        assert child.poll() is None, "the sync finished before it could be killed: " + log.read_text()[-2000:]
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    partial = stored_labels(path)
    assert 0 < partial < COUNT  # killed mid-read

    synced_ledger(settings).close()  # the next tick
    with sqlite3.connect(path) as db:
        rows, distinct = db.execute("SELECT count(*), count(DISTINCT label_id) FROM labels").fetchone()
        assignments = db.execute("SELECT count(*) FROM assignments").fetchone()[0]
    assert rows == distinct == COUNT and assignments == COUNT
    outcome = build_and_announce(settings, cutoff=T0 + timedelta(days=1), announce=False)
    assert outcome is not None and outcome.release.manifest["item_count"] == COUNT
    assert outcome.release.manifest["excluded_labels"] == {}
