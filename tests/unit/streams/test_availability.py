"""What a failed request to the cluster means, and how long a client waits before it gives up.

The messages name the setting to check; SASL and TLS are blamed only when librdkafka's own evidence
points at them. The broker-backed side (a wrong address, a paused broker) is tested in
``tests/integration/runtime/test_broker_outages.py``.
"""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException
from prometheus_client import REGISTRY

from alstream.streams.availability import BrokerHealth, classify, is_transient
from alstream.streams.config import KafkaSettings
from alstream.streams.exceptions import (
    AuthenticationFailed,
    ClusterUnreachable,
    RetryLater,
    SecurityProtocolMismatch,
    TransportSecurityFailed,
)

PLAIN = KafkaSettings(bootstrap_servers="kafka-1:9092")
TIMED_OUT = KafkaException(
    KafkaError(KafkaError._TRANSPORT, "Failed to get metadata: Local: Broker transport failure")
)


def error(code: int, text: str) -> KafkaError:
    return KafkaError(code, text)


def test_connection_refused_names_the_bootstrap_setting_and_blames_no_security() -> None:
    problem = classify(
        PLAIN,
        [error(KafkaError._TRANSPORT, "Connect to ipv4#10.0.0.1:9092 failed: Connection refused")],
        TIMED_OUT,
    )
    assert type(problem) is ClusterUnreachable
    text = str(problem)
    assert "kafka-1:9092" in text and "KAFKA_BOOTSTRAP_SERVERS" in text and "connection refused" in text
    assert "SASL" not in text and "TLS" not in text


def test_an_unresolvable_host_and_a_silent_broker_are_outages_too() -> None:
    resolve = classify(PLAIN, [error(KafkaError._RESOLVE, "Failed to resolve 'kafka-1:9092'")], TIMED_OUT)
    silent = classify(PLAIN, [], TIMED_OUT)  # a paused broker: connections open, nothing answers
    for problem in (resolve, silent):
        assert type(problem) is ClusterUnreachable
        assert "KAFKA_BOOTSTRAP_SERVERS" in str(problem) and "SASL" not in str(problem)


def test_a_listener_that_wants_sasl_or_tls_is_named_as_such() -> None:
    hint = (
        "Disconnected while requesting ApiVersion: "
        "might be caused by incorrect security.protocol configuration"
    )
    problem = classify(PLAIN, [error(KafkaError._TRANSPORT, hint)], TIMED_OUT)
    assert isinstance(problem, SecurityProtocolMismatch)
    assert "ALSTREAM_KAFKA__SECURITY_PROTOCOL" in str(problem)


def test_refused_logins_and_tls_failures_say_which_settings_to_fix() -> None:
    sasl = KafkaSettings(
        bootstrap_servers="k:9093",
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="scorer",
        sasl_password="secret",
    )
    login = classify(
        sasl,
        [error(KafkaError._AUTHENTICATION, "SASL authentication error: Authentication failed")],
        TIMED_OUT,
    )
    assert isinstance(login, AuthenticationFailed)
    assert "'scorer'" in str(login) and "ALSTREAM_KAFKA__SASL_PASSWORD" in str(login)
    assert "secret" not in str(login)
    tls = classify(
        sasl, [error(KafkaError._SSL, "SSL handshake failed: certificate verify failed")], TIMED_OUT
    )
    assert isinstance(tls, TransportSecurityFailed) and "ALSTREAM_KAFKA__SSL_CAFILE" in str(tls)


def test_transient_and_permanent_errors() -> None:
    assert is_transient(KafkaException(KafkaError(KafkaError._TRANSPORT)))
    assert is_transient(KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT)))
    assert is_transient(RetryLater("later"))
    assert not is_transient(KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)))
    assert not is_transient(KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)))
    assert not is_transient(ValueError("a bug"))


def test_a_call_is_retried_through_transient_failures_and_counted() -> None:
    health = BrokerHealth(agent="unit-health", kafka=PLAIN)
    answers = iter(
        [
            KafkaException(KafkaError(KafkaError._TRANSPORT)),
            KafkaException(KafkaError(KafkaError._TIMED_OUT)),
            7,
        ]
    )

    def call() -> int:
        answer = next(answers)
        if isinstance(answer, Exception):
            assert REGISTRY.get_sample_value("alstream_agent_broker_up", {"agent": "unit-health"}) in (0, 1)
            raise answer
        return answer

    assert health.call("metadata", call) == 7
    assert REGISTRY.get_sample_value("alstream_agent_broker_up", {"agent": "unit-health"}) == 1
    retries = REGISTRY.get_sample_value(
        "alstream_agent_broker_retries_total", {"agent": "unit-health", "operation": "metadata"}
    )
    assert retries == 2


def test_a_call_gives_up_after_its_patience_and_never_retries_a_permanent_error() -> None:
    health = BrokerHealth(agent="unit-patience", kafka=PLAIN)

    def down() -> None:
        raise KafkaException(KafkaError(KafkaError._TRANSPORT))

    with pytest.raises(ClusterUnreachable, match="KAFKA_BOOTSTRAP_SERVERS"):
        health.call("metadata", down, patience_s=0.5)
    assert REGISTRY.get_sample_value("alstream_agent_broker_up", {"agent": "unit-patience"}) == 0

    calls = []

    def refused() -> None:
        calls.append(1)
        raise KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))

    with pytest.raises(KafkaException):
        health.call("metadata", refused)
    assert len(calls) == 1


def test_a_listener_that_closes_every_connection_gets_the_security_hint_but_is_waited_for() -> None:
    lines = ["127.0.0.1:9092/bootstrap: Disconnected: connection closed by peer: receive 0 after POLLIN"]
    problem = classify(PLAIN, [], TIMED_OUT, log_lines=lines)
    assert type(problem) is ClusterUnreachable  # a broker shutting down does this too: not fatal
    assert "ALSTREAM_KAFKA__SECURITY_PROTOCOL" in str(problem)
