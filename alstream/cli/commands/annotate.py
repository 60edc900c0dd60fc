"""``alstream annotate --annotator ID``: the reference annotation client (interactive or ``--auto``)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from alstream.cli.context import cluster_settings_from


def register(app: typer.Typer) -> None:
    @app.command()
    def annotate(
        ctx: typer.Context,
        annotator: Annotated[str, typer.Option(help="Annotator id (assignments are keyed by it).")],
        auto: Annotated[
            bool, typer.Option(help="Simulate the annotator instead of asking in the terminal.")
        ] = False,
        accuracy: Annotated[
            float, typer.Option(help="--auto: probability of answering the true label.")
        ] = 0.9,
        seconds_per_item: Annotated[float, typer.Option(help="--auto: simulated time per item.")] = 0.0,
        max_items: Annotated[int | None, typer.Option(help="Stop after this many labels.")] = None,
        truth: Annotated[Path | None, typer.Option(help="--auto: CSV item_id,label of true labels.")] = None,
        skills: Annotated[str, typer.Option(help="Comma-separated skill tags.")] = "",
        group: Annotated[str | None, typer.Option(help="Calibration group (team).")] = None,
        drift_after: Annotated[
            int | None, typer.Option(help="--auto: accuracy changes after N labels.")
        ] = None,
        drift_accuracy: Annotated[
            float | None, typer.Option(help="--auto: accuracy after the drift.")
        ] = None,
        seed: Annotated[int | None, typer.Option(help="--auto: random seed.")] = None,
    ) -> None:
        """Label assignments: interactively in the terminal, or simulated with --auto (demo, tests)."""
        from alstream.annotation.auto import SimulatedAnnotator, load_truth
        from alstream.annotation.client import AnnotationClient
        from alstream.annotation.terminal import run_interactive

        settings = cluster_settings_from(ctx)
        tags = [s.strip() for s in skills.split(",") if s.strip()]
        client = AnnotationClient(settings=settings, annotator_id=annotator, skills=tags, group=group)
        try:
            if auto:
                stop = threading.Event()
                for sig in (signal.SIGTERM, signal.SIGINT):
                    signal.signal(sig, lambda *_: stop.set())
                simulated = SimulatedAnnotator(
                    client=client,
                    truth=load_truth(truth),
                    accuracy=accuracy,
                    seconds_per_item=seconds_per_item,
                    max_items=max_items,
                    drift_after=drift_after,
                    drift_accuracy=drift_accuracy,
                    seed=seed,
                    stop=stop,
                )
                summary = simulated.run()
            else:
                summary = run_interactive(client, max_items=max_items)
        finally:
            client.close()
        typer.echo(summary.line())
