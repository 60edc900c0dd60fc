"""An agent built on faust reaches the cluster through aiokafka with the credentials that
``faust_app_kwargs`` builds: SCRAM over TLS must log in, a wrong password must be refused in bounded time."""

from __future__ import annotations

import asyncio
import os

import pytest

from alstream.security.gateway import SecureGateway
from alstream.streams.kafka_config import faust_app_kwargs
from alstream.streams.topics import create_topics, spec
from tests.support.secure_cluster import USER_FOR, security_env, settings_for

pytestmark = [pytest.mark.broker]


def aiokafka_auth(settings) -> dict:
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    return dict(credentials_to_aiokafka_auth(faust_app_kwargs(settings).get("broker_credentials")))


async def send_one(bootstrap: str, auth: dict, topic: str) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, request_timeout_ms=8000, **auth)
    try:
        await asyncio.wait_for(producer.start(), timeout=20)
        await asyncio.wait_for(producer.send_and_wait(topic, b"v", key=b"k"), timeout=20)
    finally:
        await producer.stop()


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_faust_credentials_log_in_over_tls(
    mechanism: str, sasl_ssl_gateway: SecureGateway, pki, monkeypatch: pytest.MonkeyPatch, unique_id: str
) -> None:
    settings = settings_for(
        monkeypatch,
        security_env(
            sasl_ssl_gateway, protocol="SASL_SSL", mechanism=mechanism, ca=pki.ca, prefix=f"f{unique_id}."
        ),
    )
    create_topics(settings, specs=(spec("annotator-events"),), partitions_override=1, timeout_s=15)
    auth = aiokafka_auth(settings)
    assert auth["security_protocol"] == "SASL_SSL" and auth["sasl_mechanism"] == mechanism
    assert auth["sasl_plain_username"] == USER_FOR[mechanism][0]
    before = sasl_ssl_gateway.logins_ok
    asyncio.run(send_one(sasl_ssl_gateway.bootstrap_servers, auth, settings.kafka.topic("annotator-events")))
    assert sasl_ssl_gateway.logins_ok > before


def test_faust_credentials_with_a_wrong_password_are_refused(
    sasl_ssl_gateway: SecureGateway, pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(
        monkeypatch,
        security_env(
            sasl_ssl_gateway, protocol="SASL_SSL", mechanism="SCRAM-SHA-512", password="wrong", ca=pki.ca
        ),
    )
    before = sasl_ssl_gateway.logins_refused
    with pytest.raises(Exception) as caught:  # aiokafka raises its own connection / SASL error types
        asyncio.run(send_one(sasl_ssl_gateway.bootstrap_servers, aiokafka_auth(settings), "anything"))
    assert not isinstance(caught.value, (AssertionError, TypeError, AttributeError)), repr(caught.value)
    assert sasl_ssl_gateway.logins_refused > before
    assert os.environ["ALSTREAM_KAFKA__SASL_PASSWORD"] not in repr(caught.value)
