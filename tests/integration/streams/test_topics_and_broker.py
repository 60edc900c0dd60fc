"""The catalogue on a real broker through the CLI, and `alstream broker` as a process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
from typer.testing import CliRunner

from alstream.cli.main import app
from alstream.settings import AlstreamSettings
from alstream.streams.kafka_config import admin_config
from alstream.streams.topics import CATALOGUE
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker


def test_topics_create_twice_is_idempotent_and_list_shows_them(settings: AlstreamSettings) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["topics", "create", "--partitions", "2"])
    assert first.exit_code == 0, first.output
    assert first.output.count("created") == len(CATALOGUE)
    second = runner.invoke(app, ["topics", "create", "--partitions", "2"])
    assert second.exit_code == 0, second.output
    assert "created" not in second.output
    assert second.output.count("exists") == len(CATALOGUE)

    listed = runner.invoke(app, ["topics", "list"])
    assert listed.exit_code == 0, listed.output
    for topic in CATALOGUE:
        assert settings.kafka.topic(topic.base_name) in listed.output

    admin = AdminClient(admin_config(settings))
    resources = [ConfigResource(ResourceType.TOPIC, settings.kafka.topic(t.base_name)) for t in CATALOGUE]
    described = {res.name: future.result(30) for res, future in admin.describe_configs(resources).items()}
    for topic in CATALOGUE:
        configs = described[settings.kafka.topic(topic.base_name)]
        assert configs["cleanup.policy"].value == topic.cleanup_policy


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def test_broker_command_prints_bootstrap_and_stops_on_sigterm(tmp_path: Path) -> None:
    alstream = Path(sys.executable).with_name("alstream")
    process = subprocess.Popen(
        [str(alstream), "broker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        assert first_line.startswith("bootstrap: "), first_line
        host, port = first_line.split(": ", 1)[1].strip().rsplit(":", 1)
        exports = [process.stdout.readline().strip(), process.stdout.readline().strip()]
        # what docs/embedded-broker.md tells a user to set for the broker's clients
        assert exports == [
            f"export KAFKA_BOOTSTRAP_SERVERS={host}:{port}",
            "export ALSTREAM_KAFKA__EMBEDDED_BROKER=true",
        ], exports
        assert _listening(host, int(port))
        metadata = AdminClient({"bootstrap.servers": f"{host}:{port}"}).list_topics(timeout=15)
        assert metadata.brokers  # a Kafka client talks to it
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        wait_until(
            lambda: not _listening(host, int(port)),
            timeout_s=10,
            what="Tansu to stop listening after alstream broker exited",
        )
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
