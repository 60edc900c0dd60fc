"""The loop closes on a real broker: a release is announced, ``alstream agent trainer`` trains on it and
publishes a model, and a running ``alstream agent scorer`` stamps that model version on new scores."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from alstream.agents.release.service import build_and_announce
from alstream.agents.release.sources import read_topic
from alstream.agents.trainer.service import train_once
from alstream.demo.dataset import CLASSES, prepare
from alstream.models.artifacts import load_bundle
from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.codecs import codec_for
from alstream.streams.kafka_config import consumer_config, producer_config
from tests.support import records
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker


def _produce_labels(
    settings: AlstreamSettings, ids: list[str], features: np.ndarray, labels: list[str]
) -> None:
    codecs = {name: codec_for(name, settings) for name in ("assignments", "labels", "candidates")}
    producer = Producer(producer_config(settings))
    versions = {"policy_version": "pol-1", "model_version": "seed-model"}
    for n, (item, embedding, value) in enumerate(zip(ids, features, labels, strict=True)):
        assignment = records.assignment(
            f"a-{item}", annotator_id=f"ann{n % 3}", item_id=item, kind="HARD", classes=CLASSES, **versions
        )
        candidate = records.candidate(
            item,
            score=1.0,
            embedding=embedding.astype("<f4").tobytes(),
            predicted_class=None,
            confidence=None,
            uri=None,
            **versions,
        )
        label = records.label(f"l-{item}", of=assignment, value=value, started_at=records.T0)
        producer.produce(
            settings.kafka.topic("assignments"),
            key=assignment["annotator_id"],
            value=codecs["assignments"].encode(assignment),
        )
        producer.produce(
            settings.kafka.topic("candidates"), key=item, value=codecs["candidates"].encode(candidate)
        )
        producer.produce(settings.kafka.topic("labels"), key=item, value=codecs["labels"].encode(label))
    assert producer.flush(30) == 0


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("alstream")
    with log.open("ab") as sink:
        return subprocess.Popen([str(exe), *args], env=env, stdout=sink, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
            return -9
    return process.returncode


def test_trainer_publishes_and_running_scorer_swaps(
    topics: AlstreamSettings, group_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = prepare(tmp_path / "demo", seed=7)
    policy = tmp_path / "policy.toml"
    policy.write_text(
        'version = "it-loop-1"\ngoal = "test"\nwindow_seconds = 2.0\n[signal]\nname = "entropy"\n'
    )
    env_overrides = {
        "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state"),
        "ALSTREAM_PATHS__POLICY_FILE": str(policy),
        "ALSTREAM_TASK__CLASSES": '["' + '", "'.join(CLASSES) + '"]',
        "ALSTREAM_TRAINER__VALIDATION_FILE": str(demo.validation_file),
        "ALSTREAM_TRAINER__SEED_FILE": str(demo.seed_file),
        "ALSTREAM_TRAINER__GROUP_ID": f"{group_id}-trainer",
        "ALSTREAM_SCORER__GROUP_ID": f"{group_id}-scorer",
        "ALSTREAM_SCORER__BATCH_SIZE": "100",
        "ALSTREAM_SCORER__MODEL_CATCH_UP_S": "1",
    }
    for key, value in env_overrides.items():
        monkeypatch.setenv(key, value)
    env = {**os.environ}
    settings = load_settings()
    scorer = _start(["agent", "scorer"], env, tmp_path / "scorer.log")
    trainer = _start(["agent", "trainer"], env, tmp_path / "trainer.log")
    scores = Consumer(consumer_config(settings, group_id=f"{group_id}-reader"))
    scores_topic = settings.kafka.topic("scores")
    parts = scores.list_topics(scores_topic, timeout=10).topics[scores_topic].partitions
    scores.assign([TopicPartition(scores_topic, p, OFFSET_BEGINNING) for p in parts])
    score_codec = codec_for("scores", settings)
    items_codec = codec_for("items", settings)
    try:
        _produce_labels(settings, demo.stream_ids[:150], demo.stream_features[:150], demo.stream_labels[:150])
        release = build_and_announce(settings, cutoff=records.T0 + timedelta(days=1))
        assert release.release.manifest["trainable_item_count"] == 150

        def published() -> dict[str, Any] | None:
            models = [r for r in read_topic(settings, "models").records if r["model_name"] == "default"]
            if not models:
                assert trainer.poll() is None, (tmp_path / "trainer.log").read_text()[-3000:]
            return models[-1] if models else None

        model = wait_until(
            published,
            timeout_s=90,
            what="the trainer's model announcement",
            interval_s=1.0,
            diagnose=lambda: (tmp_path / "trainer.log").read_text()[-3000:],
        )
        assert model["trained_on_release"] == release.release.release_id
        assert model["validation_metric_name"] == "accuracy" and model["validation_metric"] > 0.7
        bundle = load_bundle(model["artifact_uri"], expected_sha256=model["artifact_sha256"])
        assert len(bundle.estimators) == 2 and bundle.embedding_dim == 64

        producer = Producer(producer_config(settings))
        seen: set[str] = set()
        batches = itertools.count()

        def scored_with_the_new_model() -> bool:
            """Send a batch of new items, read the scores that arrived, and look for the model's version."""
            batch = next(batches)
            for n in range(50):
                index = 150 + (batch * 50 + n) % (len(demo.stream_ids) - 150)
                item = f"{demo.stream_ids[index]}-b{batch}"
                producer.produce(
                    settings.kafka.topic("items"),
                    key=item,
                    value=items_codec.encode(
                        {
                            "item_id": item,
                            "source": "test",
                            "unit_of_work": "ITEM",
                            "embedding": demo.stream_features[index].astype("<f4").tobytes(),
                            "probabilities": None,
                            "event_time": int(time.time() * 1000),
                        }
                    ),
                )
            assert producer.flush(10) == 0
            for _ in range(10):  # up to about two seconds of scores per batch
                for message in scores.consume(500, 0.2):
                    if message.error() is None:
                        seen.add(score_codec.decode(message.value())["model_version"])
            assert scorer.poll() is None, (tmp_path / "scorer.log").read_text()[-3000:]
            return model["model_version"] in seen

        wait_until(
            scored_with_the_new_model,
            timeout_s=150,
            what=f"a score stamped with model {model['model_version']}",
            interval_s=0.0,
            diagnose=lambda: (
                f"versions seen: {sorted(seen)}\n" + (tmp_path / "scorer.log").read_text()[-3000:]
            ),
        )
    finally:
        scores.close()
        trainer_rc, scorer_rc = _stop(trainer), _stop(scorer)
    assert trainer_rc == 0, (tmp_path / "trainer.log").read_text()[-3000:]
    assert scorer_rc == 0
    assert "published" in (tmp_path / "trainer.log").read_text()

    # A clearly worse model (two classes of the seed set only) is refused against the published one,
    # which the gate re-evaluates from its artifact on the same validation set.
    seed = np.load(demo.seed_file)
    keep = np.isin(seed["labels"], ["0", "1"])
    tiny = tmp_path / "tiny-seed.npz"
    np.savez(
        tiny,
        item_ids=seed["item_ids"][keep],
        embeddings=seed["embeddings"][keep],
        labels=seed["labels"][keep],
    )
    monkeypatch.setenv("ALSTREAM_TRAINER__SEED_FILE", str(tiny))
    refused = train_once(load_settings())
    assert not refused.published
    assert refused.current_version == model["model_version"]
    assert refused.current_metric == pytest.approx(model["validation_metric"])
    assert "refused" in refused.reason
    models = [r for r in read_topic(settings, "models").records if r["model_name"] == "default"]
    assert [r["model_version"] for r in models] == [model["model_version"]]
