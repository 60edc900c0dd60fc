"""``alstream agent NAME``: run one stream agent until SIGTERM / Ctrl-C.

Every agent package under :mod:`alstream.agents` that has a ``main`` module with
``run(settings)`` is runnable here; the list is discovered so a new agent needs no edit in this file.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil
from typing import Annotated

import typer

from alstream import agents
from alstream.cli.context import cluster_settings_from
from alstream.exceptions import ConfigError


def runnable_agents() -> list[str]:
    """Agent names as typed on the command line: the package name with ``-`` for ``_`` (label-studio)."""
    names = []
    for info in pkgutil.iter_modules(agents.__path__):
        if info.ispkg and importlib.util.find_spec(f"{agents.__name__}.{info.name}.main") is not None:
            names.append(info.name.replace("_", "-"))
    return sorted(names)


def register(app: typer.Typer) -> None:
    @app.command()
    def agent(
        ctx: typer.Context,
        name: Annotated[
            str,
            typer.Argument(
                help="Which agent: scorer, router, labels, agreement, release, trainer, label-studio, "
                "tool-gateway."
            ),
        ],
        log_level: Annotated[str, typer.Option(help="Python logging level.")] = "INFO",
    ) -> None:
        """Run one agent as a consumer-group member until SIGTERM or Ctrl-C."""
        available = runnable_agents()
        name = name.replace("_", "-")
        if name not in available:
            raise ConfigError(
                f"unknown agent {name!r}: choose one of {', '.join(available) or '(none built yet)'}"
            )
        logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        module = importlib.import_module(f"{agents.__name__}.{name.replace('-', '_')}.main")
        # The runtime waits for the cluster (as long as it takes: an agent started during an outage
        # waits for it) and still fails at once on a refused login or TLS trouble. It serves /metrics
        # on the agent's default port when metrics.port is not set (alstream.agents.launch).
        module.run(cluster_settings_from(ctx, check_access=False))
