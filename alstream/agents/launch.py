"""Starting an agent with the process settings: the one agent runtime, on the metrics endpoint they name
(``metrics.port``, else the agent's default port: ``metrics.base_port`` plus its offset).

Each agent package's ``main`` module defines ``AGENT`` and ``setup(settings)`` (what to read, what to
run); ``run`` there is this call, which ``alstream agent NAME`` and the tests use.
"""

from __future__ import annotations

from collections.abc import Callable

from alstream.observability.metrics import default_metrics_port
from alstream.settings import AlstreamSettings
from alstream.streams.runtime import AgentRuntime, run_agent
from alstream.streams.stopping import StopFlag


def launch(
    settings: AlstreamSettings,
    *,
    agent: str,
    setup: Callable[[AlstreamSettings], Callable[[AgentRuntime], None]],
    stop: StopFlag | None = None,
) -> None:
    """Run ``agent`` until SIGTERM / SIGINT (or ``stop`` is set); serves /metrics on
    :func:`metrics_port_for` (a busy port is a :class:`~alstream.exceptions.ConfigError`)."""
    run_agent(
        agent=agent,
        config=settings,
        setup=setup(settings),
        metrics_port=metrics_port_for(settings, agent),
        metrics_host=settings.metrics.host,
        stop=stop,
    )


def metrics_port_for(settings: AlstreamSettings, agent: str) -> int:
    """Where ``agent`` serves /metrics: ``metrics.port`` when set (0 disables it), else its default port,
    so the agents of one host never fight over one port."""
    if settings.metrics.port is not None:
        return settings.metrics.port
    return default_metrics_port(agent, settings.metrics.base_port)
