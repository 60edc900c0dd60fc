"""What the embedded broker's own security options do (Tansu 0.6.0). Strict xfails document the gaps
that made alstream.security.gateway necessary; when a Tansu upgrade fixes them, these fail loudly."""

from __future__ import annotations

import pytest

from alstream.streams.embedded_broker import EmbeddedBroker
from alstream.streams.exceptions import BrokerError

pytestmark = [pytest.mark.broker]


@pytest.mark.xfail(
    strict=True,
    raises=BrokerError,
    reason=(
        "BUG (embedded_broker / Tansu 0.6.0): EmbeddedBroker(authentication=True).create_user() fails with "
        "'early eof': `tansu user create` sends an unauthenticated AlterUserScramCredentials that the "
        "authenticating broker refuses, so no SCRAM user can ever exist on it."
    ),
)
def test_create_user_on_an_authenticating_broker(tmp_path) -> None:
    with EmbeddedBroker(authentication=True, log_file=tmp_path / "tansu.log") as broker:
        broker.create_user("alice", "pw", mechanism="SCRAM-SHA-512")


@pytest.mark.xfail(
    strict=True,
    raises=BrokerError,
    reason=(
        "BUG (embedded_broker): EmbeddedBroker(cert=..., key=...) passes both --cert and --key, "
        "which Tansu 0.6.0's CLI declares mutually exclusive, so the broker exits at start (code 2); "
        "with one of them it starts but never completes a TLS handshake."
    ),
)
def test_tls_broker_starts(pki, tmp_path) -> None:
    # No log_file: EmbeddedBroker leaks its log handle when the broker exits at start (ResourceWarning).
    with EmbeddedBroker(cert=pki.cert, key=pki.key) as broker:
        assert broker.running
