"""Loop vs random, end to end on a real broker: labels on the topics, a release, ``alstream agent
trainer`` measuring the online proof; its /metrics must expose what the Operations panel and the
AlstreamLoopNotBeatingRandom alert query, and the next release's notes must show the proof."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import yaml
from confluent_kafka import Producer

from alstream.agents.release.service import build_and_announce
from alstream.agents.release.sources import read_topic
from alstream.demo import scrape
from alstream.demo.dataset import CLASSES, prepare
from alstream.observability.promql import metric_names
from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.codecs import codec_for
from alstream.streams.embedded_broker import free_port
from alstream.streams.kafka_config import producer_config
from tests.support.records import T0, assignment, candidate, label
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parents[3]


def _produce_history(settings: AlstreamSettings, rows: list[tuple[str, np.ndarray, str, str]]) -> None:
    """Assignments, candidates (the embeddings) and labels of (item id, embedding, label, kind) rows."""
    codecs = {name: codec_for(name, settings) for name in ("assignments", "labels", "candidates")}
    producer = Producer(producer_config(settings))
    for n, (item_id, embedding, value, kind) in enumerate(rows):
        when = T0 + timedelta(minutes=n)
        made = assignment(
            f"a-{item_id}",
            annotator_id=f"ann{n % 3}",
            item_id=item_id,
            kind=kind,
            classes=CLASSES,
            assigned_at=when,
        )
        shown = candidate(item_id, embedding=embedding.astype("<f4").tobytes(), selected_at=when)
        answer = label(f"l-{item_id}", of=made, value=value)
        for topic, key, record in (
            ("assignments", made["annotator_id"], made),
            ("candidates", item_id, shown),
            ("labels", item_id, answer),
        ):
            producer.produce(settings.kafka.topic(topic), key=key, value=codecs[topic].encode(record))
    assert producer.flush(30) == 0


def _panel_and_alert_queries() -> list[str]:
    board = json.loads((REPO / "grafana" / "dashboards" / "operations.json").read_text())
    (panel,) = [p for p in board["panels"] if p.get("title", "").startswith("Loop vs random")]
    rules = yaml.safe_load((REPO / "deploy" / "prometheus" / "rules" / "alstream.rules.yml").read_text())
    (alert,) = [
        r for g in rules["groups"] for r in g["rules"] if r.get("alert") == "AlstreamLoopNotBeatingRandom"
    ]
    return [t["expr"] for t in panel["targets"]] + [alert["expr"]]


def test_trainer_exports_the_online_proof_the_panel_and_alert_read(
    topics: AlstreamSettings, group_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = prepare(tmp_path / "demo", seed=7)
    port = free_port()
    for key, value in {
        "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state"),
        "ALSTREAM_TASK__CLASSES": json.dumps(CLASSES),
        "ALSTREAM_TRAINER__VALIDATION_FILE": str(demo.validation_file),
        "ALSTREAM_TRAINER__SEED_FILE": str(demo.seed_file),
        "ALSTREAM_TRAINER__GROUP_ID": f"{group_id}-trainer",
        "ALSTREAM_TRAINER__ONLINE_MIN_EVAL_LABELS": "20",
        "ALSTREAM_METRICS__PORT": str(port),
    }.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    # 300 stream items: every third one a random-slice label (about half of those are held out)
    rows = [
        (item, features, truth, "RANDOM" if n % 3 == 0 else "HARD")
        for n, (item, features, truth) in enumerate(
            zip(demo.stream_ids[:300], demo.stream_features[:300], demo.stream_labels[:300], strict=True)
        )
    ]
    _produce_history(settings, rows)
    log = tmp_path / "trainer.log"
    with log.open("ab") as sink:
        trainer = subprocess.Popen(
            [str(Path(sys.executable).with_name("alstream")), "agent", "trainer"],
            env={**os.environ},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        first = build_and_announce(settings, cutoff=T0 + timedelta(days=1))
        samples = wait_until(
            lambda: (
                (found := scrape.scrape(port))
                and scrape.total(found, "alstream_trainer_online_eval_labels")
                and found
            ),
            timeout_s=120,
            what="the trainer's online proof on /metrics",
            interval_s=0.5,
            diagnose=lambda: log.read_text()[-3000:],
        )
    finally:
        trainer.send_signal(signal.SIGTERM)
        assert trainer.wait(30) == 0, log.read_text()[-3000:]

    exposed = {name for name, _ in samples}
    for expr in _panel_and_alert_queries():
        assert metric_names(expr) <= exposed, (expr, sorted(n for n in exposed if "online" in n))
    arms = {dict(labels)["arm"] for name, labels in samples if name == "alstream_trainer_online_metric"}
    assert arms == {"loop", "random", "served"}  # the label values the panel's matchers select
    eval_labels = scrape.total(samples, "alstream_trainer_online_eval_labels")
    assert 30 <= eval_labels <= 70  # about half of the ~100 random-slice labels
    assert scrape.total(samples, "alstream_trainer_online_training_labels") == pytest.approx(
        100 - eval_labels
    )
    advantage = scrape.total(samples, "alstream_trainer_online_advantage")
    loop = scrape.total(samples, "alstream_trainer_online_metric", arm="loop")
    assert advantage == pytest.approx(
        loop - scrape.total(samples, "alstream_trainer_online_metric", arm="random")
    )

    (model,) = [
        r
        for r in read_topic(settings, "models").records
        if r["trained_on_release"] == first.release.release_id
    ]
    assert model["metrics"]["online:advantage"] == pytest.approx(advantage)
    second = build_and_announce(settings, cutoff=datetime.now(UTC))  # the model exists by now
    proof = second.release.manifest["online_proof"]
    assert proof["advantage"] == pytest.approx(advantage) and proof["eval_labels"] == eval_labels
    notes = (Path(second.uri) / "RELEASE_NOTES.md").read_text()
    assert "## Online proof: loop vs random" in notes and f"{int(eval_labels)} held-out" in notes
