"""``alstream topics create|list``: the topic catalogue on a cluster."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from alstream.cli.context import cluster_settings_from
from alstream.security.identity import deployment_topics
from alstream.streams.topics import create_topics, list_topics


def register(app: typer.Typer) -> None:
    topics = typer.Typer(help="Create and list the catalogue's topics.", no_args_is_help=True)
    app.add_typer(topics, name="topics")

    @topics.command("create")
    def create(
        ctx: typer.Context,
        partitions: Annotated[
            int | None,
            typer.Option(help="Override every topic's partition count (tests, small clusters)."),
        ] = None,
    ) -> None:
        """Create every catalogue topic that does not exist yet (idempotent)."""
        settings = cluster_settings_from(ctx)
        specs = deployment_topics(settings.identity)  # the catalogue plus each annotation tool's topics
        outcome = create_topics(settings, specs=specs, partitions_override=partitions)
        table = Table("topic", "outcome", "partitions", "cleanup", "key")
        for spec in specs:
            name = settings.kafka.topic(spec.base_name)
            table.add_row(
                name, outcome[name], str(partitions or spec.partitions), spec.cleanup_policy, spec.key
            )
        Console().print(table)

    @topics.command("list")
    def list_(ctx: typer.Context) -> None:
        """List this deployment's topics (those with the configured prefix) on the cluster."""
        settings = cluster_settings_from(ctx)
        table = Table("topic", "partitions")
        for name, count in list_topics(settings):
            table.add_row(name, str(count))
        Console().print(table)
