"""Entry point of ``alstream agent router``: the faust router inside the agent runtime."""

from __future__ import annotations

from collections.abc import Callable

from alstream.settings import AlstreamSettings
from alstream.streams.runtime import AgentRuntime, run_agent
from alstream.streams.stopping import StopFlag

AGENT = "router"


def setup(settings: AlstreamSettings) -> Callable[[AgentRuntime], None]:
    def build(runtime: AgentRuntime) -> None:
        from alstream.agents.router.app import RouterService

        service = RouterService(settings=settings, runtime=runtime)
        runtime.run_faust(service.app)

    return build


def run(settings: AlstreamSettings, *, stop: StopFlag | None = None) -> None:
    """Route until SIGTERM / SIGINT (or ``stop``); serves /metrics on ``settings.metrics.port`` when it is
    not 0."""
    run_agent(
        agent=AGENT,
        config=settings,
        setup=setup(settings),
        metrics_port=settings.metrics.port,
        metrics_host=settings.metrics.host,
        stop=stop,
    )
