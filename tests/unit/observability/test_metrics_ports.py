"""Each agent has its own default /metrics port; a busy port is a one-line configuration error."""

from __future__ import annotations

import socket

import pytest

from alstream.agents.launch import metrics_port_for
from alstream.cli.commands.agent import runnable_agents
from alstream.exceptions import ConfigError
from alstream.observability.metrics import AGENT_PORT_OFFSETS, default_metrics_port, serve_metrics
from alstream.settings import load_settings
from alstream.streams.config import KafkaSettings, StreamsSettings
from alstream.streams.runtime import run_agent
from alstream.streams.stopping import StopFlag


def test_every_runnable_agent_has_its_own_default_port() -> None:
    assert set(runnable_agents()) <= set(AGENT_PORT_OFFSETS)
    ports = [default_metrics_port(agent, 9400) for agent in AGENT_PORT_OFFSETS]
    assert len(set(ports)) == len(ports) and min(ports) > 9400


def test_the_setting_wins_and_unset_means_the_agent_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALSTREAM_METRICS__PORT", raising=False)
    monkeypatch.setenv("ALSTREAM_METRICS__BASE_PORT", "12000")
    assert metrics_port_for(load_settings(), "router") == 12000 + AGENT_PORT_OFFSETS["router"]
    assert metrics_port_for(load_settings(), "label-studio") == 12000 + AGENT_PORT_OFFSETS["label-studio"]
    monkeypatch.setenv("ALSTREAM_METRICS__PORT", "0")
    assert metrics_port_for(load_settings(), "router") == 0
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


def test_the_runtime_refuses_a_busy_metrics_port_before_it_touches_the_cluster() -> None:
    """The endpoint comes before the wait for the cluster: no broker is reachable here, yet the error
    is the busy port, at once, and the agent's setup never runs."""
    built: list[object] = []
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(ConfigError, match=f"the labels agent's metrics port {port}"):
            run_agent(
                agent="labels",
                config=StreamsSettings(kafka=KafkaSettings(bootstrap_servers="127.0.0.1:1")),
                setup=built.append,
                metrics_port=port,
                metrics_host="127.0.0.1",
                stop=StopFlag(),
            )
    assert built == []
