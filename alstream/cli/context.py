"""Helpers every command uses: settings from the global ``--config`` option."""

from __future__ import annotations

import typer

from alstream.settings import AlstreamSettings, load_settings


def settings_from(ctx: typer.Context) -> AlstreamSettings:
    config = (ctx.find_root().obj or {}).get("config")
    return load_settings(config)


def cluster_settings_from(ctx: typer.Context, *, check_access: bool = True) -> AlstreamSettings:
    """Settings for a command that talks to Kafka, after one metadata request proves we may.

    Without it a wrong password or CA surfaces only after librdkafka's own timeouts (~40 s and
    hundreds of log lines); with it the command stops at once naming the setting to fix, and waits
    (saying so) while the cluster is unreachable. ``check_access=False`` leaves the check to the
    caller (agents: the runtime waits for the cluster as long as it takes).
    """
    from alstream.security.preflight import require_access

    settings = settings_from(ctx)
    settings.kafka.require_bootstrap()
    if check_access:
        require_access(settings)
    return settings
