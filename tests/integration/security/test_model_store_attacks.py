"""Malicious model announcements against a running scorer (``alstream agent scorer``, real broker).

Each announcement names an artifact that would run code (``builtins.exec``, ``os.system``, a type from
a module nobody installed) or comes from outside the model store, or carries no SHA-256. The scorer
must refuse each with a clear reason on its dead letter, keep scoring with the model it had, and never
run the payload.
"""

from __future__ import annotations

import builtins
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB

from alstream.models.artifacts import ModelBundle, save_bundle, sha256_of
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import SingleObjectCodec
from tests.support import records
from tests.support.processes import start_agent, while_running
from tests.support.topics import dead_letter_for, produce_raw, read_messages
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

DIM = 64
CLASSES = ["cat", "dog", "fox"]


def scores_by_item(settings: AlstreamSettings) -> dict[str, str]:
    codec = SingleObjectCodec("scores")
    return {
        (r := codec.decode(m.value()))["item_id"]: r["model_version"]
        for m in read_messages(settings, "scores")
    }


def send_items(settings: AlstreamSettings, ids: list[str]) -> None:
    from alstream.ingest.producer import ItemProducer

    with ItemProducer(settings=settings, default_source="test") as sdk:
        assert not sdk.send_many([records.item(i, dim=DIM, seed=n) for n, i in enumerate(ids)])
        report = sdk.flush(30)
        assert not report.failures and not report.pending


def announce(settings: AlstreamSettings, version: str, uri: str, sha: str) -> Any:
    record = records.model_announcement(
        version, artifact_uri=uri, artifact_sha256=sha, classes=CLASSES, embedding_dim=DIM
    )
    return produce_raw(settings, "models", SingleObjectCodec("models").encode(record), key="default")


def test_the_scorer_refuses_malicious_artifacts_and_keeps_its_model(
    topics: AlstreamSettings, tmp_path: Path, group_id: str
) -> None:
    store = tmp_path / "state" / "models"
    policy = tmp_path / "policy.toml"
    policy.write_text(
        'version = "attack-1"\ngoal = "test"\nwindow_seconds = 2.0\n[signal]\nname = "entropy"\n'
    )
    env = {
        **os.environ,
        "ALSTREAM_SCORER__GROUP_ID": f"{group_id}-scorer",
        "ALSTREAM_SCORER__BATCH_SIZE": "100",
        "ALSTREAM_SCORER__MODEL_CATCH_UP_S": "2",
        "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state"),
        "ALSTREAM_PATHS__POLICY_FILE": str(policy),
        "ALSTREAM_TASK__CLASSES": '["cat", "dog", "fox"]',
    }
    x = np.random.default_rng(0).normal(size=(90, DIM))
    y = np.array(CLASSES)[np.argmax(x[:, :3], axis=1)]
    good = store / "good-1.skops"
    sha = save_bundle(
        ModelBundle([LogisticRegression().fit(x, y), GaussianNB().fit(x, y)], CLASSES, DIM), good
    )
    announce(topics, "good-1", str(good), sha)

    def malicious(name: str, estimators: list[Any], *, where: Path = store) -> tuple[str, str]:
        path = where / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sio.dump({"estimators": estimators, "classes": CLASSES, "embedding_dim": DIM}, path)
        return str(path), sha256_of(path)

    class Payload:  # a type from a module the scorer cannot import (this test module)
        pass

    outside = tmp_path / "outside" / "good-copy.skops"
    attacks = [
        ("exec-1", *malicious("exec.skops", [builtins.exec]), "UntrustedArtifact"),
        ("system-1", *malicious("system.skops", [os.system]), "UntrustedArtifact"),
        ("unknown-1", *malicious("unknown.skops", [Payload()]), "UntrustedArtifact"),
        (
            "outside-1",
            str(outside),
            save_bundle(ModelBundle([GaussianNB().fit(x, y)], CLASSES, DIM), outside),
            "ArtifactOutsideStore",
        ),
        ("traversal-1", f"{store}/../../outside/good-copy.skops", sha256_of(outside), "ArtifactOutsideStore"),
        ("scheme-1", "https://attacker.example/m.skops", sha, "ArtifactOutsideStore"),
        ("nosha-1", str(good), "", "MissingChecksum"),
    ]
    scorer = start_agent("scorer", env=env, log_file=tmp_path / "scorer.log")
    try:
        send_items(topics, [f"before-{n}" for n in range(20)])
        wait_until(
            while_running(scorer, lambda: scores_by_item(topics).get("before-19") == "good-1"),
            timeout_s=120,
            what="items scored by the good model",
            diagnose=scorer.tail,
        )
        for version, uri, digest, reason in attacks:  # one at a time: the scorer applies the newest
            where = announce(topics, version, uri, digest)
            letter = wait_until(
                while_running(scorer, lambda where=where: dead_letter_for(topics, where, agent="scorer")),
                timeout_s=60,
                what=f"the dead letter of {version}",
                diagnose=scorer.tail,
            )
            assert letter["error_class"] == reason, (version, letter)
        ids = [f"after-{n}" for n in range(20)]
        send_items(topics, ids)

        def all_scored() -> dict[str, str] | None:
            seen = scores_by_item(topics)
            return seen if set(ids) <= set(seen) else None

        scored = wait_until(
            while_running(scorer, all_scored),
            timeout_s=120,
            what="items scored after the attacks",
            diagnose=scorer.tail,
        )
        assert {scored[i] for i in ids} == {"good-1"}  # still the model it had
    finally:
        assert scorer.stop() == 0, scorer.tail()
