"""Helpers every command uses: settings from the global ``--config`` option."""

from __future__ import annotations

import typer

from alstream.settings import AlstreamSettings, load_settings


def settings_from(ctx: typer.Context) -> AlstreamSettings:
    config = (ctx.find_root().obj or {}).get("config")
    return load_settings(config)
