"""``alstream quotas check``: the labeling lead's quota file, checked before the router reads it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from alstream.agents.router.quotas import load_quotas


def register(app: typer.Typer) -> None:
    quotas = typer.Typer(help="Check the labeling lead's quota file.", no_args_is_help=True)
    app.add_typer(quotas, name="quotas")

    @quotas.command("check")
    def check(
        file: Annotated[Path, typer.Argument(help="Quotas TOML file (e.g. quotas/default.toml).")],
    ) -> None:
        """Validate a quotas file (exit 2 with every problem if it is refused) and show its rules."""
        rules = load_quotas(file)
        typer.echo(f"ok: quotas {rules.version} (owner: {rules.owner})")
        table = Table("rule", "value", title="what the router will apply")
        for name, value in rules.model_dump().items():
            if name not in {"version", "owner"}:
                table.add_row(name, f"{value:g}" if isinstance(value, float) else str(value))
        Console(width=None).print(table)
