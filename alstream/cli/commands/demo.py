"""``alstream demo``: the main job, the whole loop on the embedded broker, with a live view and a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        duration: Annotated[
            float | None,
            typer.Option(
                help="Seconds the loop runs before the final release [default: 100, 900 with --ui]."
            ),
        ] = None,
        output: Annotated[Path, typer.Option(help="Where data, logs, releases and the report go.")] = Path(
            "demo-output"
        ),
        retrain_every: Annotated[
            float, typer.Option(help="Seconds between on-demand releases (retraining).")
        ] = 35.0,
        synthetic_items: Annotated[
            int, typer.Option(help="Extra noisy copies of real items, for volume.")
        ] = 0,
        seed: Annotated[int, typer.Option(help="Seed of the data split and the simulated annotators.")] = 7,
        live: Annotated[bool, typer.Option(help="Show the live terminal view.")] = True,
        ui: Annotated[
            bool,
            typer.Option(
                "--ui",
                help="Also start Label Studio (`make label-studio` installs it) and label the digits in "
                "your browser beside the simulated annotators.",
            ),
        ] = False,
    ) -> None:
        """Run the whole active-learning loop on one machine and write a report."""
        from rich.console import Console

        from alstream.demo.options import DemoOptions
        from alstream.demo.orchestrator import Demo

        console = Console()
        options = DemoOptions(
            output_dir=output,
            duration_s=duration if duration is not None else (900.0 if ui else 100.0),
            retrain_every_s=retrain_every,
            synthetic_items=synthetic_items,
            seed=seed,
            live_view=live,
            ui=ui,
        )
        result = Demo(options=options, console=console).run()
        facts = result.facts
        console.print()
        console.print(f"[bold green]demo finished[/bold green] in {result.output_dir}")
        console.print(f"  report:   {result.report_file}")
        if ui:
            mine = facts.get("labels_per_annotator", {}).get(options.ui_annotator, 0)
            console.print(f"  your labels from Label Studio: {mine}")
        for release in result.release_dirs:
            console.print(f"  release:  {release}")
        if facts.get("models"):
            console.print(
                f"  validation accuracy: {facts['models'][0]['validation_metric']:.3f} (first model) -> "
                f"{facts['models'][-1]['validation_metric']:.3f} (last model)"
            )
