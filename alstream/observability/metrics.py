"""Metrics every agent shares. Agent-specific metrics live beside each agent, all named ``alstream_*``.

Label values are bounded: agent names, catalogue topic names and our own error class names.
"""

from __future__ import annotations

import errno

from prometheus_client import Counter, Gauge, Info, start_http_server

from alstream import __version__
from alstream.exceptions import ConfigError

BUILD_INFO = Info("alstream_build", "alstream version running in this process")
BUILD_INFO.info({"version": __version__})

DEAD_LETTERS = Counter(
    "alstream_dead_letters_total",
    "Records sent to the dead-letter topic, by agent, source topic and error class.",
    ["agent", "source_topic", "error_class"],
)
AGENT_UP = Gauge(
    "alstream_agent_up", "1 while the agent's processing loop runs, 0 once it stopped.", ["agent"]
)
AGENT_LAST_PROGRESS = Gauge(
    "alstream_agent_last_progress_timestamp_seconds",
    "Unix time of the agent's last successful processing step (records or an idle poll).",
    ["agent"],
)
AGENT_ERRORS = Counter(
    "alstream_agent_errors_total",
    "Errors an agent recovered from (broker errors, retries), by agent and error class.",
    ["agent", "error_class"],
)

BROKER_UP = Gauge(
    "alstream_agent_broker_up",
    "1 while the agent's calls to the Kafka cluster succeed, 0 while it waits for the cluster to answer "
    "(an outage, a paused broker, a wrong address).",
    ["agent"],
)
BROKER_RETRIES = Counter(
    "alstream_agent_broker_retries_total",
    "Calls to the Kafka cluster that failed for a transient reason and were retried, by agent and operation.",
    ["agent", "operation"],
)
RECORD_RETRIES = Counter(
    "alstream_agent_record_retries_total",
    "Attempts at processing records that raised and were retried (a record is dead-lettered after a "
    "bounded number), by agent and error class.",
    ["agent", "error_class"],
)


# Default /metrics port of each agent: ``metrics.base_port`` plus this offset, so the agents of one
# host never fight over one port (docs/configuration.md, [metrics]).
AGENT_PORT_OFFSETS = {
    "scorer": 1,
    "router": 2,
    "labels": 3,
    "agreement": 4,
    "release": 5,
    "trainer": 6,
    "label-studio": 7,
    "tool-gateway": 8,
}


def default_metrics_port(agent: str, base_port: int) -> int:
    """Where ``agent`` serves /metrics when ``metrics.port`` is not set."""
    offset = AGENT_PORT_OFFSETS.get(agent)
    if offset is None:
        raise ConfigError(
            f"agent {agent!r} has no default metrics port: set ALSTREAM_METRICS__PORT (0 disables it)"
        )
    return base_port + offset


def serve_metrics(port: int | None, host: str = "127.0.0.1", *, agent: str | None = None) -> None:
    """Serve /metrics for Prometheus on ``host:port``; port 0 (or None: not configured) disables it.

    A busy port is a configuration error, reported in one line that names the setting to change.
    """
    if not port:
        return
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        who = f"the {agent} agent's " if agent else ""
        raise ConfigError(
            f"{who}metrics port {port} on {host} is already in use: set ALSTREAM_METRICS__PORT to a free "
            "port (0 disables /metrics), or ALSTREAM_METRICS__BASE_PORT to move every agent's default port"
        ) from None
