"""How every command prints errors: one plain line each, never wrapped.

A boxed or width-limited console wraps a long message (a path, a setting name) mid-sentence, and a
test or a script that greps for the sentence then misses it. Errors go to stderr as ``error: ...``
on one line, whatever the terminal's width; tables and progress bars stay rich.
"""

from __future__ import annotations

import click
import typer


def print_error(message: str) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)


def print_usage_error(exc: click.ClickException) -> None:
    """Typer's rich handler draws usage errors in an 80-column box; this prints them as click would,
    with the ``error:`` line every other alstream error has."""
    if type(exc).__name__ == "NoArgsIsHelpError":  # the help text was already shown
        return
    ctx: click.Context | None = getattr(exc, "ctx", None)
    if ctx is not None:
        typer.echo(ctx.get_usage(), err=True)
        if ctx.command.get_help_option(ctx) is not None:
            typer.echo(f"Try '{ctx.command_path} {ctx.help_option_names[0]}' for help.", err=True)
    print_error(exc.format_message())


def install_plain_usage_errors() -> None:
    """Route typer's usage-error printing to :func:`print_usage_error` (typer looks it up per call)."""
    from typer import rich_utils

    rich_utils.rich_format_error = print_usage_error  # type: ignore[assignment]  # same signature
