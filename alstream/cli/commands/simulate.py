"""``alstream simulate``: replay a labeled dataset through the policy versus random; labels saved."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from alstream.cli.context import settings_from
from alstream.exceptions import ConfigError

if TYPE_CHECKING:  # the simulator pulls in scikit-learn and pyarrow: import it only when it runs
    from alstream.simulation.loop import SelectionPolicy


def register(app: typer.Typer) -> None:
    @app.command()
    def simulate(
        ctx: typer.Context,
        dataset: Annotated[
            str, typer.Option(help="digits, breast_cancer, wine, or a CSV / Parquet file.")
        ] = "digits",
        policy: Annotated[
            Path | None,
            typer.Option(help="Selection policy TOML (default: settings paths.policy_file)."),
        ] = None,
        signal: Annotated[
            str | None,
            typer.Option(help="Try a signal without a policy file (ad-hoc policy, 15% random slice)."),
        ] = None,
        budget: Annotated[int, typer.Option(help="Labels per run, the seed set included.")] = 300,
        seeds: Annotated[int, typer.Option(help="Repetitions with different splits and seed sets.")] = 3,
        batch_size: Annotated[int, typer.Option(help="Labels per round between retrains.")] = 20,
        initial: Annotated[int, typer.Option(help="Random stratified seed set size.")] = 20,
        metric: Annotated[
            str, typer.Option(help="accuracy, macro_f1 or recall:<class> (rare class).")
        ] = "accuracy",
        target: Annotated[
            float | None,
            typer.Option(help="Target metric (default: random's final mean)."),
        ] = None,
        quotas: Annotated[
            Path | None,
            typer.Option(
                help="Router quotas TOML: mix each policy batch with the router's hard cap, normal share, "
                "random share and QA rate."
            ),
        ] = None,
        labels_per_day: Annotated[
            int, typer.Option(help="Labels in one simulated annotator-day (with --quotas).")
        ] = 100,
        label_column: Annotated[str, typer.Option(help="Label column of a CSV / Parquet dataset.")] = "label",
        out: Annotated[
            Path, typer.Option(help="Directory for curves.csv, learning_curve.png, summary.json.")
        ] = Path("simulation"),
    ) -> None:
        """Replay a labeled dataset through the agents' policy code against random; show labels saved."""
        from alstream.simulation.datasets import load_dataset
        from alstream.simulation.loop import RANDOM, SimulationConfig, run_simulation, steps_per_run
        from alstream.simulation.report import plot, summarise, write_csv, write_summary

        selection = _selection(ctx, policy, signal)
        data = load_dataset(dataset, label_column=label_column)
        if metric.startswith("recall:") and metric.removeprefix("recall:") not in data.classes:
            raise ConfigError(f"--metric {metric}: class not in the dataset ({', '.join(data.classes)})")
        rules = None
        if quotas is not None:
            from alstream.agents.router.quotas import load_quotas

            rules = load_quotas(quotas)
        config = SimulationConfig(
            budget=budget,
            seeds=seeds,
            batch_size=batch_size,
            initial_size=initial,
            metric=metric,
            quotas=rules,
            labels_per_day=labels_per_day,
        )
        console = Console()
        total = 2 * seeds * steps_per_run(config)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as bar:
            task = bar.add_task(f"simulating {data.name}", total=total)
            points = run_simulation(data, selection, config, progress=lambda n: bar.advance(task, n))
        summary = summarise(points, metric=metric, target=target)
        out.mkdir(parents=True, exist_ok=True)
        write_csv(points, out / "curves.csv")
        write_summary(summary, out / "summary.json")
        plot(
            points,
            summary,
            out / "learning_curve.png",
            title=f"{data.name}: {selection.label} vs random, {seeds} seeds",
        )
        table = Table(
            title=f"{data.name}, {metric}, target {summary.target:.4f} (budget {budget}, {seeds} seeds)"
        )
        for column in ("strategy", f"final {metric}", "labels to target", "seeds reaching", "labels saved"):
            table.add_column(column)
        for s in summary.strategies:
            saved = summary.labels_saved(s.strategy) if s.strategy != RANDOM else None
            table.add_row(
                s.strategy,
                f"{s.final_mean:.4f} ± {s.final_std:.4f}",
                str(s.labels_to_target) if s.labels_to_target is not None else f"not within {budget}",
                f"{s.seeds_reaching_target}/{s.seeds}",
                "-" if s.strategy == RANDOM else (str(saved) if saved is not None else "n/a"),
            )
        console.print(table)
        console.print(f"wrote {out / 'curves.csv'}, {out / 'learning_curve.png'}, {out / 'summary.json'}")


def _selection(ctx: typer.Context, policy: Path | None, signal: str | None) -> SelectionPolicy:
    from alstream.simulation.loop import SelectionPolicy, load_selection_policy

    if signal is not None:
        return SelectionPolicy(version="adhoc", signal=signal)
    path = policy or settings_from(ctx).paths.policy_file
    if path is None:
        raise ConfigError(
            "no policy: pass --policy FILE (or set ALSTREAM_PATHS__POLICY_FILE), or --signal NAME"
        )
    return load_selection_policy(str(path))
