"""A release built from the topics twice is byte-identical, announced, and readable by the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
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

pytestmark = pytest.mark.broker

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
CLASSES = ["cat", "dog"]


def _assignment(aid: str, item: str, annotator: str, kind: str) -> dict[str, Any]:
    return {
        "assignment_id": aid,
        "annotator_id": annotator,
        "item_id": item,
        "kind": kind,
        "classes": CLASSES,
        "uri": None,
        "unit_of_work": "ITEM",
        "policy_version": "pol-1",
        "quota_version": "q1",
        "model_version": "mod-1",
        "overlap_group": None,
        "calibration_id": None,
        "assigned_at": T0,
        "lease_expires_at": T0 + timedelta(hours=1),
    }


def _label(lid: str, a: dict[str, Any], value: str, minute: int) -> dict[str, Any]:
    return {
        "label_id": lid,
        "assignment_id": a["assignment_id"],
        "item_id": a["item_id"],
        "annotator_id": a["annotator_id"],
        "status": "LABELED",
        "value": value,
        "root_cause": None,
        "started_at": T0,
        "submitted_at": T0 + timedelta(minutes=minute),
    }


def _candidate(item: str, embedding: np.ndarray) -> dict[str, Any]:
    return {
        "item_id": item,
        "reason": "TOP_SCORE",
        "score": 0.5,
        "signal": "entropy",
        "policy_version": "pol-1",
        "model_version": "mod-1",
        "unit_of_work": "ITEM",
        "predicted_class": None,
        "confidence": None,
        "embedding": embedding.astype("<f4").tobytes(),
        "skills": [],
        "uri": None,
        "window_start": T0,
        "selected_at": T0,
    }


def produce_labeled_items(settings: AlstreamSettings, count: int) -> None:
    """``count`` items, each labeled once (every fifth twice, overlapping), with candidates carrying
    embeddings."""
    producer = Producer(producer_config(settings))
    codecs = {name: codec_for(name, settings) for name in ("assignments", "labels", "candidates")}
    rng = np.random.default_rng(1)
    for n in range(count):
        item = f"item-{n:04d}"
        value = CLASSES[n % 2]
        producer.produce(
            settings.kafka.topic("candidates"),
            key=item,
            value=codecs["candidates"].encode(_candidate(item, rng.normal(n % 2, 1.0, 8))),
        )
        kinds = [("ann1", "HARD")] + ([("ann2", "OVERLAP")] if n % 5 == 0 else [])
        for annotator, kind in kinds:
            a = _assignment(f"a-{n}-{annotator}", item, annotator, kind)
            producer.produce(
                settings.kafka.topic("assignments"), key=annotator, value=codecs["assignments"].encode(a)
            )
            producer.produce(
                settings.kafka.topic("labels"),
                key=item,
                value=codecs["labels"].encode(_label(f"l-{n}-{annotator}", a, value, n % 50 + 1)),
            )
    assert producer.flush(30) == 0


def test_release_from_topics_is_reproducible_and_announced(
    topics: AlstreamSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALSTREAM_PATHS__STATE_DIR", str(tmp_path))
    monkeypatch.setenv("ALSTREAM_TASK__CLASSES", '["cat", "dog"]')
    settings = load_settings()
    produce_labeled_items(settings, 40)
    cutoff = T0 + timedelta(days=1)
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
        deadline = time.monotonic() + 60
        announced: list[dict[str, Any]] = []
        while not announced and time.monotonic() < deadline:
            assert agent.poll() is None, log.read_text()[-3000:]
            announced = read_topic(settings, "releases").records
            time.sleep(0.5)
        assert announced, log.read_text()[-3000:]
        assert announced[0]["item_count"] == 10
        assert not list((tmp_path / "release-requests").glob("*.json"))  # the request was consumed
    finally:
        agent.send_signal(signal.SIGTERM)
        rc = agent.wait(30)
    assert rc == 0, log.read_text()[-3000:]
