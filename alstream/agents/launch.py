"""Starting an agent with the process settings: the one agent runtime, on the metrics endpoint they name.

Each agent package's ``main`` module defines ``AGENT`` and ``setup(settings)`` (what to read, what to
run); ``run`` there is this call, which ``alstream agent NAME`` and the tests use.
"""

from __future__ import annotations

from collections.abc import Callable

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
    """Run ``agent`` until SIGTERM / SIGINT (or ``stop`` is set); serves /metrics on ``metrics.port``."""
    run_agent(
        agent=agent,
        config=settings,
        setup=setup(settings),
        metrics_port=settings.metrics.port,
        metrics_host=settings.metrics.host,
        stop=stop,
    )
