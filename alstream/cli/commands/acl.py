"""``alstream acl``: print the ``kafka-acls`` commands that grant each alstream role least privilege."""

from __future__ import annotations

from typing import Annotated

import typer

from alstream.cli.context import settings_from
from alstream.security.acl import acl_commands

_ROLES = (
    "ingest",
    "scorer",
    "router",
    "labels",
    "agreement",
    "release",
    "trainer",
    "operator",
    "tool-gateway",
)


def register(app: typer.Typer) -> None:
    @app.command(
        "acl",
        help="Print least-privilege kafka-acls commands for the roles given a principal "
        "(see docs/security.md).",
    )
    def acl(
        ctx: typer.Context,
        prefix: Annotated[
            str | None, typer.Option(help="Topic prefix (default: kafka.topic_prefix).")
        ] = None,
        principal_ingest: Annotated[str | None, typer.Option(help="e.g. User:ingest")] = None,
        principal_annotation: Annotated[str | None, typer.Option(hidden=True)] = None,
        principal_scorer: Annotated[str | None, typer.Option()] = None,
        principal_router: Annotated[str | None, typer.Option()] = None,
        principal_labels: Annotated[str | None, typer.Option()] = None,
        principal_agreement: Annotated[str | None, typer.Option()] = None,
        principal_release: Annotated[str | None, typer.Option()] = None,
        principal_trainer: Annotated[str | None, typer.Option()] = None,
        principal_operator: Annotated[str | None, typer.Option(help="topics create / audit")] = None,
        principal_tool_gateway: Annotated[
            str | None, typer.Option(help="the tool gateway agent ([identity] tools must be set)")
        ] = None,
        bootstrap_server: Annotated[str, typer.Option(help="Written into each command.")] = "$BOOTSTRAP",
        command_config: Annotated[str | None, typer.Option(help="Admin client properties file.")] = None,
        annotation_group: Annotated[
            str, typer.Option(help="Consumer-group prefix of annotation tools.")
        ] = "alstream-annotate",
    ) -> None:
        """Annotation tools get one role each, User:<tool>, from [identity] tools (printed whenever any
        role is asked for): the broker then binds each tool's topics to its principal."""
        if principal_annotation:
            raise typer.BadParameter(
                "annotation tools have one principal each now: list them in [identity] tools "
                "(ALSTREAM_IDENTITY__TOOLS); each is granted as User:<tool> (docs/security.md)"
            )
        overrides = {"kafka": {"topic_prefix": prefix}} if prefix else {}
        settings = settings_from(ctx)
        if overrides:
            settings = settings.model_copy(
                update={"kafka": settings.kafka.model_copy(update={"topic_prefix": prefix})}
            )
        given = dict(
            zip(
                _ROLES,
                (
                    principal_ingest,
                    principal_scorer,
                    principal_router,
                    principal_labels,
                    principal_agreement,
                    principal_release,
                    principal_trainer,
                    principal_operator,
                    principal_tool_gateway,
                ),
                strict=True,
            )
        )
        principals = {role: p for role, p in given.items() if p}
        if not principals:
            raise typer.BadParameter(
                "give at least one --principal-<role> (e.g. --principal-ingest User:ingest)"
            )
        try:
            lines = acl_commands(
                settings,
                principals,
                bootstrap=bootstrap_server,
                command_config=command_config,
                annotation_group=annotation_group,
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        typer.echo("\n".join(lines))
