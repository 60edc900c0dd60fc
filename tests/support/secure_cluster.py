"""What a client of the SCRAM / TLS gateway cluster needs (``tests/integration/security``): the users
the gateway knows and the environment an operator would set to reach it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alstream.security.gateway import SecureGateway
from alstream.settings import AlstreamSettings, load_settings

# (user, password, mechanism): the gateway's SCRAM credentials
USERS = (
    ("ingest-512", "pw-512-Zq8!kR", "SCRAM-SHA-512"),
    ("agent-256", "pw-256-Lm3#vT", "SCRAM-SHA-256"),
)
USER_FOR = {mechanism: (user, password) for user, password, mechanism in USERS}


def security_env(
    gateway: SecureGateway,
    *,
    protocol: str,
    mechanism: str | None = None,
    password: str | None = None,
    ca: Path | None = None,
    prefix: str = "sec.",
) -> dict[str, str]:
    """The environment an operator would set for this cluster (the documented ALSTREAM_* variables)."""
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": gateway.bootstrap_servers,
        "ALSTREAM_KAFKA__TOPIC_PREFIX": prefix,
        "ALSTREAM_KAFKA__SESSION_TIMEOUT_MS": "6000",
        "ALSTREAM_KAFKA__SECURITY_PROTOCOL": protocol,
        "ALSTREAM_METRICS__PORT": "0",
    }
    if mechanism:
        user, right_password = USER_FOR[mechanism]
        env["ALSTREAM_KAFKA__SASL_MECHANISM"] = mechanism
        env["ALSTREAM_KAFKA__SASL_USERNAME"] = user
        env["ALSTREAM_KAFKA__SASL_PASSWORD"] = password if password is not None else right_password
    if ca:
        env["ALSTREAM_KAFKA__SSL_CAFILE"] = str(ca)
    return env


def settings_for(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> AlstreamSettings:
    for name in list(os.environ):
        if name.startswith("ALSTREAM_KAFKA__"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings()
