"""Each agent has its own default /metrics port; a busy port is a one-line configuration error."""

from __future__ import annotations

import socket

import pytest

from alstream.cli.commands.agent import runnable_agents, with_metrics_port
from alstream.exceptions import ConfigError
from alstream.observability.metrics import AGENT_PORT_OFFSETS, default_metrics_port, serve_metrics
from alstream.settings import load_settings


def test_every_runnable_agent_has_its_own_default_port() -> None:
    assert set(runnable_agents()) <= set(AGENT_PORT_OFFSETS)
    ports = [default_metrics_port(agent, 9400) for agent in AGENT_PORT_OFFSETS]
    assert len(set(ports)) == len(ports) and min(ports) > 9400


def test_the_setting_wins_and_unset_means_the_agent_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALSTREAM_METRICS__PORT", raising=False)
    monkeypatch.setenv("ALSTREAM_METRICS__BASE_PORT", "12000")
    assert with_metrics_port(load_settings(), "router").metrics.port == 12000 + AGENT_PORT_OFFSETS["router"]
    monkeypatch.setenv("ALSTREAM_METRICS__PORT", "0")
    assert with_metrics_port(load_settings(), "router").metrics.port == 0
    with pytest.raises(ConfigError, match="ALSTREAM_METRICS__PORT"):
        default_metrics_port("no-such-agent", 9400)


def test_a_busy_port_names_the_setting_in_one_line() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(ConfigError) as caught:
            serve_metrics(port, "127.0.0.1", agent="labels")
    message = str(caught.value)
    assert "\n" not in message and f"port {port}" in message and "ALSTREAM_METRICS__PORT" in message
