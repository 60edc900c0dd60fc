"""Entry point of ``alstream agent router``: the router's batch loop inside the agent runtime."""

from __future__ import annotations

from collections.abc import Callable

from alstream.agents.launch import launch
from alstream.settings import AlstreamSettings
from alstream.streams.runtime import AgentRuntime
from alstream.streams.stopping import StopFlag

AGENT = "router"


def setup(settings: AlstreamSettings) -> Callable[[AgentRuntime], None]:
    def build(runtime: AgentRuntime) -> None:
        from alstream.agents.router.app import RouterService

        service = RouterService(settings=settings, runtime=runtime)
        runtime.on_shutdown(service.close)

    return build


def run(settings: AlstreamSettings, *, stop: StopFlag | None = None) -> None:
    """Route until SIGTERM / SIGINT (or ``stop``); serves /metrics on ``settings.metrics.port`` when it is
    not 0."""
    launch(settings, agent=AGENT, setup=setup, stop=stop)
