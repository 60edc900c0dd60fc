"""``alstream train``: one training run, on a release or on every label so far."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from alstream.cli.context import cluster_settings_from, settings_from


def register(app: typer.Typer) -> None:
    @app.command(
        help="Train the committee, evaluate on the fixed validation set, gate against the current model, "
        "publish."
    )
    def train(
        ctx: typer.Context,
        release: Annotated[
            str | None,
            typer.Option(help="Release id, prefix or 'latest' to train on (default: every label so far)."),
        ] = None,
        seed_only: Annotated[
            bool, typer.Option(help="Train on the seed set alone (the first model).")
        ] = False,
        force: Annotated[bool, typer.Option(help="Publish even if worse than the current model.")] = False,
        publish: Annotated[
            bool, typer.Option(help="Announce on the models topic (off: evaluate only).")
        ] = True,
    ) -> None:
        from alstream.agents.release.service import store_for
        from alstream.agents.trainer.data import labels_so_far_inputs, release_inputs
        from alstream.agents.trainer.service import train_once

        # Evaluating a seed-only or stored-release model needs no cluster; publishing or reading labels does.
        needs_cluster = publish or (release is None and not seed_only)
        settings = cluster_settings_from(ctx) if needs_cluster else settings_from(ctx)
        release_id = None
        inputs: dict[str, Any] = {}
        if release is not None:
            store = store_for(settings)
            release_id = store.resolve(release)
            inputs = release_inputs(store.uri_of(release_id), release_id)
        elif not seed_only:
            inputs = labels_so_far_inputs(settings)
        outcome = train_once(settings, **inputs, release_id=release_id, force=force, publish=publish)
        table = Table("metric", "value", title=outcome.model_version or "model not published")
        for name, value in outcome.metrics.items():
            table.add_row(name, f"{value:.4f}")
        console = Console()
        console.print(table)
        console.print(outcome.reason)
        if outcome.proof is not None:
            p = outcome.proof
            console.print(
                f"online proof on {p.eval_labels} held-out random-slice labels ({p.metric_name}): "
                f"loop {p.loop:.4f} vs random {p.random:.4f} with {p.training_labels} labels each; "
                f"served model {p.served:.4f}"
            )
        elif inputs:
            console.print(f"online proof not measured: {outcome.proof_note}")
        if publish and not outcome.published:
            raise typer.Exit(code=3)
