"""Entry point of ``alstream agent router``."""

from __future__ import annotations

from alstream.observability.metrics import serve_metrics
from alstream.settings import AlstreamSettings


def run(settings: AlstreamSettings) -> None:
    """Route until SIGTERM / SIGINT; serves /metrics on ``settings.metrics.port`` when it is not 0."""
    from alstream.agents.router.app import RouterService

    service = RouterService(settings=settings)
    serve_metrics(settings.metrics.port, settings.metrics.host, agent="router")
    service.run()
