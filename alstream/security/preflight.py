"""Fail fast and clearly when the cluster refuses us: one metadata request, classified.

Why: librdkafka retries a refused login forever in the background; a client only sees "Broker
transport failure" after its own timeout (the CLI took ~43 s and printed ~560 log lines for a wrong
password). :func:`require_access` makes the same request with the error callback attached and turns
the outcome into one :class:`~alstream.exceptions.AlstreamError` that names the setting to fix.
Call it at the start of a CLI command or an agent.
"""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from alstream.exceptions import AlstreamError
from alstream.settings import AlstreamSettings
from alstream.streams.kafka_config import admin_config

_SILENT = logging.getLogger("alstream.security.preflight.librdkafka")
_SILENT.addHandler(logging.NullHandler())
_SILENT.propagate = False


class ClusterAccessError(AlstreamError):
    """The cluster could not be used; the message says why and which setting to check."""


class AuthenticationFailed(ClusterAccessError):
    """SASL login refused: wrong user, password or mechanism."""


class TransportSecurityFailed(ClusterAccessError):
    """TLS handshake failed: untrusted certificate, wrong CA file, or TLS spoken to a plaintext port."""


class ClusterUnreachable(ClusterAccessError):
    """No broker answered (or it closed every connection, e.g. a SASL listener spoken to in plaintext)."""


def require_access(settings: AlstreamSettings, *, timeout_s: float = 10.0) -> int:
    """Return the number of brokers, or raise a :class:`ClusterAccessError` within about ``timeout_s``."""
    errors: list[KafkaError] = []
    admin = AdminClient(admin_config(settings) | {"error_cb": errors.append, "logger": _SILENT})
    try:
        metadata = admin.list_topics(timeout=timeout_s)
        return len(metadata.brokers)
    except KafkaException as exc:
        admin.poll(0.5)
        raise _classify(settings, errors, exc) from None


def _classify(
    settings: AlstreamSettings, errors: list[KafkaError], exc: KafkaException
) -> ClusterAccessError:
    kafka = settings.kafka
    servers = kafka.bootstrap_servers
    detail = next((e.str() for e in errors if e.code() == KafkaError._AUTHENTICATION), None)
    if detail is not None:
        who = (
            f"user {kafka.sasl_username!r} with {kafka.sasl_mechanism}"
            if kafka.sasl_username
            else "this client"
        )
        return AuthenticationFailed(
            f"{servers} refused the login of {who}: {_short(detail)}. Check ALSTREAM_KAFKA__SASL_USERNAME, "
            "ALSTREAM_KAFKA__SASL_PASSWORD and ALSTREAM_KAFKA__SASL_MECHANISM "
            "(the user must exist for that mechanism)."
        )
    detail = next((e.str() for e in errors if e.code() == KafkaError._SSL), None)
    if detail is not None:
        return TransportSecurityFailed(
            f"TLS with {servers} failed: {_short(detail)}. "
            "Check ALSTREAM_KAFKA__SSL_CAFILE (the CA that signed the brokers' certificates), "
            "ALSTREAM_KAFKA__SSL_CHECK_HOSTNAME and that the port speaks TLS."
        )
    hint = (
        " The listener may require SASL or TLS: set ALSTREAM_KAFKA__SECURITY_PROTOCOL."
        if kafka.security_protocol == "PLAINTEXT"
        else ""
    )
    return ClusterUnreachable(f"no usable broker at {servers} ({_short(str(exc))}).{hint}")


def _short(text: str) -> str:
    """librdkafka prefixes errors with the broker's internal name; keep the part a person needs."""
    for marker in ("SASL authentication error: ", "SSL handshake failed: "):
        if marker in text:
            return text.split(marker, 1)[1]
    return text
