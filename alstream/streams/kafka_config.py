"""Client configuration from the ``[kafka]`` settings, for librdkafka (confluent-kafka) and aiokafka (faust).

The only place that knows how security settings map to each client's option names, and which client
defaults alstream changes and why:

* records of any size the broker hands out are read (a reader that cannot fetch a record stalls its
  partition for good), and records up to ``max_message_bytes`` are produced;
* producers keep retrying through an outage for ``outage_tolerance_s`` before they report a failure;
* only with ``embedded_broker`` set: the short fetch wait the embedded broker needs (it holds every
  fetch for the consumer's whole ``fetch.wait.max.ms``; Apache Kafka answers as soon as data arrives).
"""

from __future__ import annotations

import ssl
from typing import Any

from alstream.streams.config import KafkaSettings, KafkaSource, kafka_of

# Readers accept any record the broker hands out: above Tansu's 256 MiB request limit and any sane
# message.max.bytes. librdkafka needs receive.message.max.bytes >= fetch.max.bytes + 512.
READ_LIMIT_BYTES = 512 * 1024 * 1024
FETCH_MAX_BYTES = 64 * 1024 * 1024
# The embedded broker holds every fetch for the consumer's whole fetch.wait.max.ms, so the default
# (500 ms) would stall every poll (docs/embedded-broker.md).
EMBEDDED_FETCH_WAIT_MS = 10
# The default session timeout delays the first group join by ~20 s on every broker we measured.
CONSUMER_DEFAULTS: dict[str, Any] = {
    "fetch.min.bytes": 1,
    "fetch.max.bytes": FETCH_MAX_BYTES,
    "max.partition.fetch.bytes": 16 * 1024 * 1024,
    "receive.message.max.bytes": READ_LIMIT_BYTES,
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


def _security(kafka: KafkaSettings) -> dict[str, Any]:
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


def _base(kafka: KafkaSettings) -> dict[str, Any]:
    return {
        "bootstrap.servers": kafka.require_bootstrap(),
        "client.id": kafka.client_id,
        **_security(kafka),
    }


def admin_config(source: KafkaSource) -> dict[str, Any]:
    return _base(kafka_of(source))


def producer_config(source: KafkaSource, **overrides: Any) -> dict[str, Any]:
    kafka = kafka_of(source)
    return {
        **_base(kafka),
        **PRODUCER_DEFAULTS,
        "message.max.bytes": kafka.max_message_bytes,
        "delivery.timeout.ms": int(kafka.outage_tolerance_s * 1000),
        **overrides,
    }


def consumer_config(source: KafkaSource, *, group_id: str, **overrides: Any) -> dict[str, Any]:
    kafka = kafka_of(source)
    embedded = {"fetch.wait.max.ms": EMBEDDED_FETCH_WAIT_MS} if kafka.embedded_broker else {}
    return {
        **_base(kafka),
        **CONSUMER_DEFAULTS,
        **embedded,
        "group.id": group_id,
        "session.timeout.ms": kafka.session_timeout_ms,
        "heartbeat.interval.ms": max(500, kafka.session_timeout_ms // 5),
        **overrides,
    }


def faust_app_kwargs(source: KafkaSource) -> dict[str, Any]:
    """Keyword arguments for ``faust.App`` that carry the same cluster, security and size settings."""
    import faust

    kafka = kafka_of(source)
    servers = kafka.require_bootstrap().split(",")
    kwargs: dict[str, Any] = {
        "broker": [f"kafka://{server.strip()}" for server in servers],
        "broker_session_timeout": kafka.session_timeout_ms / 1000,
        "broker_heartbeat_interval": max(0.5, kafka.session_timeout_ms / 5000),
        "topic_replication_factor": kafka.replication_factor,
        # aiokafka reads a partition's first record batch whatever its size (fetch v3+); this bounds
        # the rest of a fetch, and must not be below the largest record produced.
        "consumer_max_fetch_size": max(kafka.max_message_bytes, 4 * 1024 * 1024),
        "producer_max_request_size": kafka.max_message_bytes,
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
