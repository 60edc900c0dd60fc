"""Client configuration from the settings, for librdkafka (confluent-kafka) and aiokafka (faust).

The only place that knows how security settings map to each client's option names.
"""

from __future__ import annotations

import ssl
from typing import Any

from alstream.settings import AlstreamSettings

# Measured on Tansu (BROKER-NOTES): the default fetch.wait.max.ms makes consumers look 100x slower,
# and the default session timeout delays the first group join by ~20 s.
CONSUMER_DEFAULTS: dict[str, Any] = {
    "fetch.wait.max.ms": 10,
    "fetch.min.bytes": 1,
    "fetch.max.bytes": 64 * 1024 * 1024,
    "max.partition.fetch.bytes": 16 * 1024 * 1024,
    "enable.auto.commit": True,
    "enable.auto.offset.store": False,  # offsets are stored only after processing
    "auto.offset.reset": "earliest",
}
PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,
    "linger.ms": 5,
    "batch.num.messages": 10_000,
    "compression.type": "none",
}


def _security(settings: AlstreamSettings) -> dict[str, Any]:
    kafka = settings.kafka
    conf: dict[str, Any] = {"security.protocol": kafka.security_protocol}
    if kafka.security_protocol.startswith("SASL"):
        conf["sasl.mechanism"] = kafka.sasl_mechanism
        conf["sasl.username"] = kafka.sasl_username
        conf["sasl.password"] = kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
    if kafka.security_protocol.endswith("SSL"):
        if kafka.ssl_cafile:
            conf["ssl.ca.location"] = str(kafka.ssl_cafile)
        if kafka.ssl_certfile:
            conf["ssl.certificate.location"] = str(kafka.ssl_certfile)
        if kafka.ssl_keyfile:
            conf["ssl.key.location"] = str(kafka.ssl_keyfile)
        if kafka.ssl_key_password:
            conf["ssl.key.password"] = kafka.ssl_key_password.get_secret_value()
        conf["ssl.endpoint.identification.algorithm"] = "https" if kafka.ssl_check_hostname else "none"
    return conf


def _base(settings: AlstreamSettings) -> dict[str, Any]:
    return {
        "bootstrap.servers": settings.kafka.require_bootstrap(),
        "client.id": settings.kafka.client_id,
        **_security(settings),
    }


def admin_config(settings: AlstreamSettings) -> dict[str, Any]:
    return _base(settings)


def producer_config(settings: AlstreamSettings, **overrides: Any) -> dict[str, Any]:
    return {**_base(settings), **PRODUCER_DEFAULTS, **overrides}


def consumer_config(settings: AlstreamSettings, *, group_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        **_base(settings),
        **CONSUMER_DEFAULTS,
        "group.id": group_id,
        "session.timeout.ms": settings.kafka.session_timeout_ms,
        "heartbeat.interval.ms": max(500, settings.kafka.session_timeout_ms // 5),
        **overrides,
    }


def faust_app_kwargs(settings: AlstreamSettings) -> dict[str, Any]:
    """Keyword arguments for ``faust.App`` that carry the same cluster and security settings."""
    import faust

    kafka = settings.kafka
    servers = kafka.require_bootstrap().split(",")
    kwargs: dict[str, Any] = {
        "broker": [f"kafka://{server.strip()}" for server in servers],
        "broker_session_timeout": kafka.session_timeout_ms / 1000,
        "broker_heartbeat_interval": max(0.5, kafka.session_timeout_ms / 5000),
        "topic_replication_factor": kafka.replication_factor,
    }
    context = None
    if kafka.security_protocol.endswith("SSL"):
        context = ssl.create_default_context(cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None)
        context.check_hostname = kafka.ssl_check_hostname
        if kafka.ssl_certfile:
            password = kafka.ssl_key_password.get_secret_value() if kafka.ssl_key_password else None
            context.load_cert_chain(str(kafka.ssl_certfile), str(kafka.ssl_keyfile or ""), password)
    if kafka.security_protocol.startswith("SASL"):
        kwargs["broker_credentials"] = faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
            mechanism=kafka.sasl_mechanism,
            ssl_context=context,
        )
    elif context is not None:
        kwargs["broker_credentials"] = faust.SSLCredentials(context)
    return kwargs
