"""Entry point of the ``alstream`` console script.

Each module in :mod:`alstream.cli.commands` defines ``register(app)``; they are discovered here so
adding a command never means editing this file.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from alstream import __version__
from alstream.cli import commands
from alstream.cli.output import install_plain_usage_errors, print_error
from alstream.exceptions import AlstreamError

install_plain_usage_errors()
app = typer.Typer(
    name="alstream",
    help="Active learning for data-labeling teams, run as a streaming service on Kafka.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"alstream {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="TOML settings file (also ALSTREAM_CONFIG).", envvar="ALSTREAM_CONFIG"
        ),
    ] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
) -> None:
    ctx.obj = {"config": config}


for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
    importlib.import_module(f"{commands.__name__}.{module_info.name}").register(app)


def main() -> None:
    try:
        app()
    except AlstreamError as exc:
        print_error(str(exc))
        sys.exit(2)


if __name__ == "__main__":
    main()
