"""EmbeddedBroker: a failed start raises with the broker's own words and leaks nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from alstream.streams.embedded_broker import EmbeddedBroker
from alstream.streams.exceptions import BrokerError

pytestmark = pytest.mark.broker


def test_failed_start_closes_the_log_and_quotes_it(tmp_path: Path) -> None:
    log_file = tmp_path / "tansu.log"
    # Tansu 0.6.0 refuses --cert together with --key (see tests/integration/security): exits at start
    broker = EmbeddedBroker(cert=tmp_path / "missing.pem", key=tmp_path / "missing.key", log_file=log_file)
    with pytest.raises(BrokerError, match="exited with code") as caught:
        broker.start()
    assert not broker.running and broker.pid is None
    assert broker._log_handle is None  # closed, not leaked
    assert str(log_file) in str(caught.value)


def test_start_stop_and_context_manager(tmp_path: Path) -> None:
    with EmbeddedBroker(log_file=tmp_path / "tansu.log") as broker:
        assert broker.running and broker.pid
        assert broker.bootstrap_servers.startswith("127.0.0.1:")
    assert not broker.running
    broker.stop()  # idempotent
