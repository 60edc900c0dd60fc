"""A release built from the topics twice is byte-identical, announced, and readable by the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from confluent_kafka import Producer
from typer.testing import CliRunner

from alstream.agents.release.service import build_and_announce, store_for
from alstream.agents.release.sources import read_topic
from alstream.agents.trainer.data import labels_so_far_part
from alstream.cli.main import app
from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.codecs import codec_for
from alstream.streams.kafka_config import producer_config
from tests.support import records
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker

CLASSES = ["cat", "dog"]
VERSIONS = {"policy_version": "pol-1", "model_version": "mod-1"}


def produce_labeled_items(settings: AlstreamSettings, count: int) -> None:
    """``count`` items, each labeled once (every fifth twice, overlapping), with candidates carrying
    embeddings."""
    producer = Producer(producer_config(settings))
    codecs = {name: codec_for(name, settings) for name in ("assignments", "labels", "candidates")}
    rng = np.random.default_rng(1)
    for n in range(count):
        item = f"item-{n:04d}"
        value = CLASSES[n % 2]
        embedding = rng.normal(n % 2, 1.0, 8).astype("<f4").tobytes()
        candidate = records.candidate(
            item, embedding=embedding, predicted_class=None, confidence=None, uri=None, **VERSIONS
        )
        producer.produce(
            settings.kafka.topic("candidates"), key=item, value=codecs["candidates"].encode(candidate)
        )
        kinds = [("ann1", "HARD")] + ([("ann2", "OVERLAP")] if n % 5 == 0 else [])
        for annotator, kind in kinds:
            a = records.assignment(
                f"a-{n}-{annotator}",
                annotator_id=annotator,
                item_id=item,
                kind=kind,
                classes=CLASSES,
                **VERSIONS,
            )
            submitted = records.T0 + timedelta(minutes=n % 50 + 1)
            answer = records.label(
                f"l-{n}-{annotator}", of=a, value=value, submitted_at=submitted, started_at=records.T0
            )
            producer.produce(
                settings.kafka.topic("assignments"), key=annotator, value=codecs["assignments"].encode(a)
            )
            producer.produce(settings.kafka.topic("labels"), key=item, value=codecs["labels"].encode(answer))
    assert producer.flush(30) == 0


def test_release_from_topics_is_reproducible_and_announced(
    topics: AlstreamSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALSTREAM_PATHS__STATE_DIR", str(tmp_path))
    monkeypatch.setenv("ALSTREAM_TASK__CLASSES", '["cat", "dog"]')
    settings = load_settings()
    produce_labeled_items(settings, 40)
    cutoff = records.T0 + timedelta(days=1)
    first = build_and_announce(settings, cutoff=cutoff)
    again = build_and_announce(settings, cutoff=cutoff)
    assert first.created and not again.created
    assert first.release.files == again.release.files
    manifest = first.release.manifest
    assert manifest["item_count"] == 40 and manifest["trainable_item_count"] == 40
    assert manifest["counts_by_kind"] == {"HARD": 40}
    assert manifest["counts_by_class"] == {"cat": 20, "dog": 20}
    assert manifest["policy_versions"] == ["pol-1"] and manifest["model_versions"] == ["mod-1"]
    assert manifest["agreement"] == 1.0 and manifest["overlapped_items"] == 8
    stored = Path(first.uri)
    assert {p.name for p in stored.iterdir()} == {
        "items.parquet",
        "labels.parquet",
        "manifest.json",
        "RELEASE_NOTES.md",
    }
    announced = read_topic(settings, "releases").records
    assert {r["release_id"] for r in announced} == {first.release.release_id}
    assert announced[0]["content_hash"] == manifest["content_hash"]

    # The trainer's label-batch path compacts the same topics in memory, without storing a release.
    _name, ids, embeddings, labels = labels_so_far_part(settings)
    assert len(ids) == 40 and embeddings.shape == (40, 8) and set(labels.tolist()) == set(CLASSES)

    # A later cut-off with the same labels has the first as parent and adds nothing.
    later = build_and_announce(settings, cutoff=cutoff + timedelta(days=7))
    assert later.release.manifest["parent_release_id"] == first.release.release_id
    assert later.release.manifest["added_label_count"] == 0
    assert later.release.manifest["content_hash"] == manifest["content_hash"]

    monkeypatch.setenv("COLUMNS", "250")  # rich tables unwrapped
    runner = CliRunner()
    listed = runner.invoke(app, ["release", "list"])
    assert listed.exit_code == 0 and first.release.release_id[:15] in listed.output
    shown = runner.invoke(app, ["release", "show", first.release.release_id[:20]])
    assert shown.exit_code == 0 and "pol-1" in shown.output
    diffed = runner.invoke(app, ["release", "diff", first.release.release_id, "latest"])
    assert diffed.exit_code == 0 and "parent_release_id" in diffed.output
    assert len(store_for(settings).manifests()) == 2


def test_release_agent_honours_an_on_demand_request(
    topics: AlstreamSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALSTREAM_PATHS__STATE_DIR", str(tmp_path))
    monkeypatch.setenv("ALSTREAM_TASK__CLASSES", '["cat", "dog"]')
    monkeypatch.setenv("ALSTREAM_RELEASE__WEEKLY", "false")
    monkeypatch.setenv("ALSTREAM_RELEASE__POLL_INTERVAL_S", "0.5")
    settings = load_settings()
    produce_labeled_items(settings, 10)
    log = tmp_path / "release-agent.log"
    with log.open("ab") as sink:
        agent = subprocess.Popen(
            [str(Path(sys.executable).with_name("alstream")), "agent", "release"],
            env={**os.environ},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        result = CliRunner().invoke(app, ["release", "build", "--request"])
        assert result.exit_code == 0 and "requested" in result.output

        def announced() -> list[dict[str, Any]]:
            assert agent.poll() is None, log.read_text()[-3000:]
            return read_topic(settings, "releases").records

        releases = wait_until(
            announced,
            timeout_s=60,
            what="the requested release's announcement",
            interval_s=0.5,
            diagnose=lambda: log.read_text()[-3000:],
        )
        assert releases[0]["item_count"] == 10
        assert not list((tmp_path / "release-requests").glob("*.json"))  # the request was consumed
    finally:
        agent.send_signal(signal.SIGTERM)
        rc = agent.wait(30)
    assert rc == 0, log.read_text()[-3000:]
