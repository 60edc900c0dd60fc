"""The ingestion SDK and real agent processes over SASL_SSL (SCRAM-SHA-256), with DEBUG logs: they work
with the right credentials, and neither the password nor a label payload reaches their logs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import Producer

from alstream.agents.release.sources import read_topic
from alstream.ingest.producer import ItemProducer
from alstream.security.gateway import SecureGateway
from alstream.settings import load_settings
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.kafka_config import producer_config
from alstream.streams.topics import create_topics
from tests.support import records
from tests.support.secure_cluster import USER_FOR, security_env
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ALSTREAM = str(Path(sys.executable).with_name("alstream"))
PAYLOAD = "PAYLOAD-zebra-9137"  # a label value that must never be logged
DIM = 8
MECHANISM = "SCRAM-SHA-256"


@pytest.fixture(scope="module")
def secured_run(
    sasl_ssl_gateway: SecureGateway, pki, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """One run of the SDK, the scorer and the labels agent over SASL_SSL; returns the agents' logs."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        return _run(
            sasl_ssl_gateway, pki, tmp_path_factory.mktemp("secured"), monkeypatch, str(time.time_ns())[-8:]
        )


def _run(
    sasl_ssl_gateway: SecureGateway, pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, unique_id: str
) -> dict[str, str]:
    env = security_env(
        sasl_ssl_gateway, protocol="SASL_SSL", mechanism=MECHANISM, ca=pki.ca, prefix=f"a{unique_id}."
    ) | {
        "ALSTREAM_TASK__CLASSES": '["cat", "dog"]',
        "ALSTREAM_INGEST__EMBEDDING_DIM": str(DIM),
        "ALSTREAM_LABELS__HOLD_UNKNOWN_S": "1",
    }
    for name in [k for k in os.environ if k.startswith(("ALSTREAM_", "KAFKA_"))]:
        monkeypatch.delenv(name)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    create_topics(settings, partitions_override=1, timeout_s=15)

    logs, agents = {}, {}
    for name in ("scorer", "labels"):
        logs[name] = tmp_path / f"{name}.log"
        child_env = {**os.environ, "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / name)}
        with logs[name].open("wb") as sink:
            agents[name] = subprocess.Popen(
                [ALSTREAM, "agent", name, "--log-level", "DEBUG"],
                env=child_env,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
    try:
        # The ingestion SDK over SASL_SSL.
        rng = np.random.default_rng(0)
        with ItemProducer(settings=settings, default_source="secure") as sdk:
            assert (
                sdk.send_many([{"item_id": f"s-{i}", "embedding": rng.normal(size=DIM)} for i in range(40)])
                == []
            )
            report = sdk.flush(30)
        assert report.complete and report.acknowledged == 40

        # An assignment, then a valid label and one whose value (the payload) is not a class.
        now = datetime.now(UTC)
        assignment = records.assignment("as-1", item_id="s-1", classes=["cat", "dog"], assigned_at=now)
        producer = Producer(producer_config(settings))
        producer.produce(
            settings.kafka.topic("assignments"),
            key="ann",
            value=SingleObjectCodec("assignments").encode(assignment),
        )
        assert producer.flush(15) == 0
        labels = SingleObjectCodec("labels")
        for label_id, value in (("good", "cat"), ("bad", PAYLOAD)):
            label = records.label(
                label_id, of=assignment, value=value, seconds=3, submitted_at=now + timedelta(seconds=3)
            )
            producer.produce(settings.kafka.topic("labels"), key="s-1", value=labels.encode(label))
        assert producer.flush(15) == 0

        wait_until(
            lambda: len(set(read_topic(settings, "scores").keys)) == 40,
            timeout_s=90,
            interval_s=1.0,
            what="the scorer to score 40 items",
        )
        wait_until(
            lambda: b"s-1" in read_topic(settings, "dead-letters").keys,
            timeout_s=90,
            interval_s=1.0,
            what="the labels agent to dead-letter the invalid label",
        )
    finally:
        for process in agents.values():
            if process.poll() is None:
                os.killpg(process.pid, 15)
                process.wait(timeout=30)
    return {name: path.read_text(errors="replace") for name, path in logs.items()}


def test_sdk_and_agents_work_over_sasl_ssl_and_never_log_the_password(secured_run: dict[str, str]) -> None:
    """Reaching here means the SDK's 40 items were acknowledged, scored by the scorer and the invalid label
    was dead-lettered by the labels agent, all through SCRAM-SHA-256 over TLS."""
    assert all(" INFO " in body for body in secured_run.values()), (
        "agents wrote no logs: the check would be vacuous"
    )
    for name, body in secured_run.items():
        assert USER_FOR[MECHANISM][1] not in body, f"{name} logged the SASL password"


def test_agents_never_log_a_label_payload(secured_run: dict[str, str]) -> None:
    """A rejected label is logged by its ids and reason, never by its value (what an annotator wrote)."""
    for name, body in secured_run.items():
        assert PAYLOAD not in body, f"{name} logged a label payload"
