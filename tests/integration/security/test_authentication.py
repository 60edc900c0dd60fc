"""SASL/SCRAM and TLS settings, end to end through librdkafka, the batch loop and the CLI.

The broker is the embedded one behind :class:`~alstream.security.gateway.SecureGateway`, which runs
the real Kafka SASL handshake and TLS, so these tests exercise the clients' own SCRAM and TLS code.
Every refusal is checked to be *clear* (an authentication or TLS error reaches the caller) and
*bounded* (a timeout, never a hang).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from alstream.security.gateway import SecureGateway
from alstream.settings import AlstreamSettings
from alstream.streams.batch_loop import BatchAgentRunner, StopFlag
from alstream.streams.kafka_config import admin_config, producer_config
from alstream.streams.topics import create_topics, spec
from tests.support.secure_cluster import USER_FOR, security_env, settings_for

pytestmark = [pytest.mark.broker]

ALSTREAM = str(Path(sys.executable).with_name("alstream"))


class Errors:
    """Collects librdkafka's error callbacks (where authentication / TLS failures are reported)."""

    def __init__(self) -> None:
        self.seen: list[KafkaError] = []

    def __call__(self, error: KafkaError) -> None:
        self.seen.append(error)

    def text(self) -> str:
        return " | ".join(f"{e.name()}: {e.str()}" for e in self.seen)


def round_trip(settings: AlstreamSettings, group_id: str, count: int = 20) -> list[bytes]:
    """Create topics, produce ``count`` records with producer_config, read them with BatchAgentRunner."""
    create_topics(settings, specs=(spec("items"), spec("dead-letters")), partitions_override=1, timeout_s=15)
    topic = settings.kafka.topic("items")
    producer = Producer(producer_config(settings))
    for i in range(count):
        producer.produce(topic, key=f"k{i}".encode(), value=f"v{i}".encode())
    assert producer.flush(15) == 0, "records were not acknowledged through the secured listener"

    seen: list[bytes] = []
    stop = StopFlag()

    class Collect:
        def process(self, messages, outputs) -> None:
            seen.extend(m.value() for m in messages)
            if len(seen) >= count:
                stop.set()

        def on_idle(self, outputs) -> None:
            pass

    runner = BatchAgentRunner(
        agent="security-test", settings=settings, topics=[topic], group_id=group_id, processor=Collect()
    )
    bound = threading.Timer(60, stop.set)  # the caller's assertion names what did not arrive
    bound.start()
    try:
        runner.run(stop)
    finally:
        bound.cancel()
    return sorted(seen)


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
@pytest.mark.parametrize("tls", [False, True], ids=["sasl_plaintext", "sasl_ssl"])
def test_right_credentials_produce_and_consume(
    mechanism: str,
    tls: bool,
    request: pytest.FixtureRequest,
    pki,
    monkeypatch: pytest.MonkeyPatch,
    unique_id: str,
) -> None:
    gateway: SecureGateway = request.getfixturevalue("sasl_ssl_gateway" if tls else "sasl_gateway")
    before = gateway.logins_ok
    env = security_env(
        gateway,
        protocol="SASL_SSL" if tls else "SASL_PLAINTEXT",
        mechanism=mechanism,
        ca=pki.ca if tls else None,
        prefix=f"s{unique_id}.",
    )
    settings = settings_for(monkeypatch, env)
    values = round_trip(settings, group_id=f"g{unique_id}")
    assert values == sorted(f"v{i}".encode() for i in range(20))
    assert gateway.logins_ok > before


def test_tls_without_sasl(
    ssl_gateway: SecureGateway, pki, monkeypatch: pytest.MonkeyPatch, unique_id: str
) -> None:
    settings = settings_for(
        monkeypatch, security_env(ssl_gateway, protocol="SSL", ca=pki.ca, prefix=f"s{unique_id}.")
    )
    assert round_trip(settings, group_id=f"g{unique_id}", count=5) == sorted(
        f"v{i}".encode() for i in range(5)
    )


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_wrong_password_is_refused_clearly(
    mechanism: str, sasl_ssl_gateway: SecureGateway, pki, monkeypatch: pytest.MonkeyPatch, quiet_librdkafka
) -> None:
    env = security_env(
        sasl_ssl_gateway, protocol="SASL_SSL", mechanism=mechanism, password="not-the-password", ca=pki.ca
    )
    settings = settings_for(monkeypatch, env)
    errors = Errors()
    producer = Producer(
        producer_config(settings, error_cb=errors, logger=quiet_librdkafka, **{"message.timeout.ms": 3000})
    )
    producer.produce(settings.kafka.topic("items"), value=b"x")
    started = time.monotonic()
    remaining = producer.flush(10)
    assert time.monotonic() - started < 10
    assert remaining == 0 or remaining == 1
    codes = {e.code() for e in errors.seen}
    assert KafkaError._AUTHENTICATION in codes, errors.text()
    assert "Authentication failed" in errors.text()
    with pytest.raises(KafkaException):
        AdminClient(admin_config(settings) | {"logger": quiet_librdkafka}).list_topics(timeout=3)


def test_user_with_other_mechanism_is_refused(
    sasl_gateway: SecureGateway, monkeypatch: pytest.MonkeyPatch, quiet_librdkafka
) -> None:
    """ingest-512 exists only for SCRAM-SHA-512: the right password over SHA-256 must not log in."""
    env = security_env(
        sasl_gateway,
        protocol="SASL_PLAINTEXT",
        mechanism="SCRAM-SHA-256",
        password=USER_FOR["SCRAM-SHA-512"][1],
    )
    env["ALSTREAM_KAFKA__SASL_USERNAME"] = USER_FOR["SCRAM-SHA-512"][0]
    settings = settings_for(monkeypatch, env)
    errors = Errors()
    admin = AdminClient(admin_config(settings) | {"error_cb": errors, "logger": quiet_librdkafka})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=3)
    admin.poll(1)  # serve the error callbacks
    assert KafkaError._AUTHENTICATION in {e.code() for e in errors.seen}, errors.text()


def test_no_credentials_are_refused(
    sasl_gateway: SecureGateway, monkeypatch: pytest.MonkeyPatch, quiet_librdkafka
) -> None:
    settings = settings_for(monkeypatch, security_env(sasl_gateway, protocol="PLAINTEXT"))
    before = sasl_gateway.unauthenticated_refused
    started = time.monotonic()
    with pytest.raises(KafkaException):
        AdminClient(admin_config(settings) | {"logger": quiet_librdkafka}).list_topics(timeout=3)
    assert time.monotonic() - started < 15
    assert sasl_gateway.unauthenticated_refused > before


def test_untrusted_broker_certificate_is_refused(
    sasl_ssl_gateway: SecureGateway, pki, monkeypatch: pytest.MonkeyPatch, quiet_librdkafka
) -> None:
    """A client that trusts another CA must not talk to this broker (no silent downgrade)."""
    env = security_env(sasl_ssl_gateway, protocol="SASL_SSL", mechanism="SCRAM-SHA-512", ca=pki.other_ca)
    settings = settings_for(monkeypatch, env)
    errors = Errors()
    admin = AdminClient(admin_config(settings) | {"error_cb": errors, "logger": quiet_librdkafka})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=3)
    admin.poll(1)  # serve the error callbacks
    assert KafkaError._SSL in {e.code() for e in errors.seen} or "certificate" in errors.text().lower(), (
        errors.text()
    )


def _cli(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ALSTREAM_", "KAFKA_"))}
    return subprocess.run(
        [ALSTREAM, *args], env=clean | env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.slow
def test_cli_topics_create_with_scram_over_tls(sasl_ssl_gateway: SecureGateway, pki, unique_id: str) -> None:
    env = security_env(
        sasl_ssl_gateway, protocol="SASL_SSL", mechanism="SCRAM-SHA-256", ca=pki.ca, prefix=f"c{unique_id}."
    )
    created = _cli(["topics", "create", "--partitions", "1"], env)
    assert created.returncode == 0, created.stderr[-2000:]
    listed = _cli(["topics", "list"], env)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert f"c{unique_id}.labels" in listed.stdout
    password = USER_FOR["SCRAM-SHA-256"][1]
    assert password not in created.stdout + created.stderr + listed.stdout + listed.stderr


@pytest.mark.slow
def test_cli_with_wrong_password_fails_clearly_and_in_bounded_time(sasl_gateway: SecureGateway) -> None:
    env = security_env(
        sasl_gateway, protocol="SASL_PLAINTEXT", mechanism="SCRAM-SHA-512", password="wrong-Secret-42"
    )
    started = time.monotonic()
    result = _cli(["topics", "list"], env, timeout=90)
    elapsed = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "authentication" in output.lower(), output[-2000:]
    assert "wrong-Secret-42" not in output
    # The preflight check answers with one error naming the settings to fix, not a log flood.
    assert "ALSTREAM_KAFKA__SASL_PASSWORD" in output, output[-2000:]
    assert "Traceback" not in output and len(output.splitlines()) < 20, output[-2000:]
    print(f"CLI refused a wrong password in {elapsed:.1f}s")


def test_secrets_never_reach_debug_logs(
    sasl_gateway: SecureGateway,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    unique_id: str,
) -> None:
    """A DEBUG run (our loggers and librdkafka's full debug output) never prints the password."""
    env = security_env(
        sasl_gateway, protocol="SASL_PLAINTEXT", mechanism="SCRAM-SHA-512", prefix=f"d{unique_id}."
    )
    password = env["ALSTREAM_KAFKA__SASL_PASSWORD"]
    settings = settings_for(monkeypatch, env)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("alstream").debug("settings in use: %r / %s", settings, settings.kafka)
    rdkafka_log = logging.getLogger("librdkafka.debug")
    create_topics(settings, specs=(spec("items"),), partitions_override=1, timeout_s=15)
    producer = Producer(producer_config(settings, debug="all", logger=rdkafka_log))
    producer.produce(settings.kafka.topic("items"), value=b"label-payload-must-stay-private")
    assert producer.flush(15) == 0
    del producer
    captured = capfd.readouterr()
    everything = caplog.text + captured.out + captured.err
    assert len(caplog.records) > 50, "librdkafka debug output was not captured: the check would be vacuous"
    assert "SCRAM" in everything
    assert password not in everything
    assert "label-payload-must-stay-private" not in everything


# ---------------------------------------------------------------------------------- preflight

from alstream.security.preflight import (  # noqa: E402
    AuthenticationFailed,
    ClusterUnreachable,
    TransportSecurityFailed,
    require_access,
)


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_preflight_turns_a_wrong_password_into_one_clear_error(
    mechanism: str, sasl_ssl_gateway: SecureGateway, pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(
        monkeypatch,
        security_env(
            sasl_ssl_gateway, protocol="SASL_SSL", mechanism=mechanism, password="Wr0ng-pw!", ca=pki.ca
        ),
    )
    started = time.monotonic()
    with pytest.raises(AuthenticationFailed) as caught:
        require_access(settings, timeout_s=3)
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert (
        USER_FOR[mechanism][0] in message
        and mechanism in message
        and "ALSTREAM_KAFKA__SASL_PASSWORD" in message
    )
    assert "Wr0ng-pw!" not in message


def test_preflight_explains_tls_and_plaintext_mistakes(
    sasl_ssl_gateway: SecureGateway, sasl_gateway: SecureGateway, pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(
        monkeypatch,
        security_env(sasl_ssl_gateway, protocol="SASL_SSL", mechanism="SCRAM-SHA-512", ca=pki.other_ca),
    )
    with pytest.raises(TransportSecurityFailed, match="ALSTREAM_KAFKA__SSL_CAFILE"):
        require_access(settings, timeout_s=3)
    settings = settings_for(monkeypatch, security_env(sasl_gateway, protocol="PLAINTEXT"))
    with pytest.raises(ClusterUnreachable, match="SECURITY_PROTOCOL"):
        require_access(settings, timeout_s=3)
    settings = settings_for(
        monkeypatch, security_env(sasl_gateway, protocol="SASL_PLAINTEXT", mechanism="SCRAM-SHA-512")
    )
    assert require_access(settings, timeout_s=3) >= 1
