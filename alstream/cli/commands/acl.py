"""``alstream acl``: print the ``kafka-acls`` commands that grant each alstream role least privilege."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from alstream.cli.context import settings_from
from alstream.security.acl import acl_commands

_ROLES = ("ingest", "annotation", "scorer", "router", "labels", "agreement", "release", "trainer", "operator")


def register(app: typer.Typer) -> None:
    @app.command("acl")
    def acl(  # noqa: PLR0913 - one option per role is the clearest interface
        ctx: typer.Context,
        prefix: Annotated[Optional[str], typer.Option(help="Topic prefix (default: kafka.topic_prefix).")] = None,  # noqa: UP007
        principal_ingest: Annotated[Optional[str], typer.Option(help="e.g. User:ingest")] = None,  # noqa: UP007
        principal_annotation: Annotated[Optional[str], typer.Option(help="annotation tools")] = None,  # noqa: UP007
        principal_scorer: Annotated[Optional[str], typer.Option()] = None,  # noqa: UP007
        principal_router: Annotated[Optional[str], typer.Option()] = None,  # noqa: UP007
        principal_labels: Annotated[Optional[str], typer.Option()] = None,  # noqa: UP007
        principal_agreement: Annotated[Optional[str], typer.Option()] = None,  # noqa: UP007
        principal_release: Annotated[Optional[str], typer.Option()] = None,  # noqa: UP007
        principal_trainer: Annotated[Optional[str], typer.Option()] = None,  # noqa: UP007
        principal_operator: Annotated[Optional[str], typer.Option(help="topics create / audit")] = None,  # noqa: UP007
        bootstrap_server: Annotated[str, typer.Option(help="Written into each command.")] = "$BOOTSTRAP",
        command_config: Annotated[Optional[str], typer.Option(help="Admin client properties file.")] = None,  # noqa: UP007
        annotation_group: Annotated[str, typer.Option(help="Consumer-group prefix of annotation tools.")] = "alstream-annotate",
    ) -> None:
        """Print least-privilege kafka-acls commands for the roles given a principal (see docs/security.md)."""
        overrides = {"kafka": {"topic_prefix": prefix}} if prefix else {}
        settings = settings_from(ctx)
        if overrides:
            settings = settings.model_copy(update={"kafka": settings.kafka.model_copy(update={"topic_prefix": prefix})})
        given = dict(zip(_ROLES, (principal_ingest, principal_annotation, principal_scorer, principal_router,
                                  principal_labels, principal_agreement, principal_release, principal_trainer,
                                  principal_operator), strict=True))
        principals = {role: p for role, p in given.items() if p}
        if not principals:
            raise typer.BadParameter("give at least one --principal-<role> (e.g. --principal-ingest User:ingest)")
        try:
            lines = acl_commands(settings, principals, bootstrap=bootstrap_server, command_config=command_config,
                                 annotation_group=annotation_group)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        typer.echo("\n".join(lines))
