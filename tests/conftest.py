"""Shared fixtures: one Kafka cluster per test session, unique topics and groups per test.

The cluster is, in order: ``KAFKA_BOOTSTRAP_SERVERS`` if set; Apache Kafka through testcontainers if a
Docker engine answers; else the embedded Tansu broker.
"""

from __future__ import annotations

import gc
import os
import uuid
import warnings
from collections.abc import Iterator

import pytest

from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.topics import create_topics

# Session fixtures of the Label Studio tests (a real server, chromium); requested only by those tests.
pytest_plugins = ["tests.support.label_studio"]


def _docker_engine_answers() -> bool:
    """True only where a Docker engine really runs containers (these machines have the client only)."""

    if os.environ.get("DOCKER_HOST") is None and not os.path.exists("/var/run/docker.sock"):
        return False
    try:
        import docker  # installed with testcontainers
    except ImportError:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        client = None
        try:
            client = docker.from_env(timeout=3)
            client.ping()
            return True
        except (docker.errors.DockerException, OSError):
            return False
        finally:
            if client is not None:
                client.close()
            gc.collect()


@pytest.fixture(scope="session")
def kafka_client_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """The environment a client of the session's cluster needs (its address; for the embedded broker,
    the flag that turns on the workarounds for its gaps)."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield {"KAFKA_BOOTSTRAP_SERVERS": configured}
        return
    if _docker_engine_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer("apache/kafka:3.8.0").with_kraft() as container:
            yield {"KAFKA_BOOTSTRAP_SERVERS": container.get_bootstrap_server()}
        return
    from alstream.streams.embedded_broker import EmbeddedBroker

    log_file = tmp_path_factory.mktemp("broker") / "tansu.log"
    with EmbeddedBroker(log_file=log_file) as broker:
        yield broker.client_environment()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_client_env: dict[str, str]) -> str:
    """Bootstrap servers of the session's cluster."""
    return kafka_client_env["KAFKA_BOOTSTRAP_SERVERS"]


@pytest.fixture
def unique_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture
def settings(
    kafka_client_env: dict[str, str], unique_id: str, monkeypatch: pytest.MonkeyPatch
) -> AlstreamSettings:
    """Settings pointing at the session cluster with a topic prefix no other test uses (set in this
    test's environment too, so the agents and commands it starts inherit them)."""
    for name, value in kafka_client_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ALSTREAM_KAFKA__TOPIC_PREFIX", f"t{unique_id}.")
    monkeypatch.setenv("ALSTREAM_KAFKA__SESSION_TIMEOUT_MS", "6000")
    monkeypatch.setenv("ALSTREAM_METRICS__PORT", "0")
    return load_settings()


@pytest.fixture
def topics(settings: AlstreamSettings) -> AlstreamSettings:
    """The whole catalogue created (2 partitions each) under the test's unique prefix."""
    create_topics(settings, partitions_override=2)
    return settings


@pytest.fixture
def group_id(unique_id: str) -> str:
    return f"g{unique_id}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say loudly when the observability tests did not run: a skip line is easy to miss."""
    skipped = [
        report
        for report in terminalreporter.stats.get("skipped", [])
        if "prometheus" in str(getattr(report, "longrepr", "")).lower()
    ]
    if skipped:
        terminalreporter.write_sep(
            "!",
            f"{len(skipped)} tests SKIPPED because prometheus/promtool are not installed: "
            "run .ci/install-prometheus as root (apt-get install prometheus)",
            red=True,
            bold=True,
        )
