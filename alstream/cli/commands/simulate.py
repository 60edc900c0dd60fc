"""``alstream simulate``: replay a labeled dataset through a policy versus random; labels saved."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from alstream.cli.context import settings_from
from alstream.exceptions import ConfigError

if TYPE_CHECKING:  # the simulator pulls in scikit-learn and pyarrow: import it only when it runs
    from alstream.agents.selection.policy import Policy
    from alstream.agents.trainer.config import CommitteeMember
    from alstream.simulation.datasets import Dataset
    from alstream.simulation.report import Summary

DATASET_HELP = (
    "digits, breast_cancer, wine, iris, imbalanced, many_clusters, label_noise, high_dim; or a JSONL / CSV "
    "/ Parquet file (as `alstream produce` takes it, plus a label) or a release directory / items.parquet."
)
MODEL_HELP = (
    "Committee to train: allow-listed estimators, e.g. 'logistic_regression,random_forest+sigmoid', or a "
    "TOML file with `committee = [...]` as in [trainer]. Default: the trainer's committee."
)


def committee_option(text: str | None, ctx: typer.Context) -> tuple[CommitteeMember, ...]:
    """``--model``: a short list of names, a TOML file, or (absent) the configured trainer committee."""
    import tomllib

    from alstream.agents.trainer.committee import parse_committee
    from alstream.agents.trainer.config import TrainerSettings

    if text is None:
        return tuple(settings_from(ctx).trainer.committee)
    path = Path(text)
    if path.suffix == ".toml":
        if not path.is_file():
            raise ConfigError(f"--model {text}: no such file")
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        members = data.get("committee", data.get("trainer", {}).get("committee"))
        if members is None:
            raise ConfigError(f"--model {text}: no `committee = [...]` (or [trainer] committee) in the file")
        try:
            return TrainerSettings(committee=members).committee
        except ValueError as exc:
            raise ConfigError(f"--model {text}: {exc}") from None
    return parse_committee(text)


def run_and_report(
    *,
    console: Console,
    data: Dataset,
    policies: Sequence[Policy],
    config: object,
    out: Path,
    target: float | None,
    title: str,
) -> Summary:
    """Run the simulation with a progress bar, write curves / summary / plot, print the table."""
    from alstream.agents.trainer.committee import committee_label
    from alstream.simulation.loop import SimulationConfig, run_simulation, steps_per_run
    from alstream.simulation.report import plot, summarise, write_csv, write_summary

    assert isinstance(config, SimulationConfig)
    console.print(f"dataset {data.name}: {len(data.labels)} items, {len(data.classes)} classes")
    console.print(f"features: {data.features_from}")
    for note in data.notes:
        console.print(f"note: {note}")
    console.print(f"committee: {committee_label(config.committee)}; metric: {config.metric}")
    total = (len(policies) + 1) * config.seeds * steps_per_run(config)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(f"simulating {data.name}", total=total)
        points = run_simulation(data, policies, config, progress=lambda n: bar.advance(task, n))
    summary = summarise(points, metric=config.metric, target=target, budget=config.budget)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(points, out / "curves.csv")
    write_summary(
        summary,
        out / "summary.json",
        extra={
            "dataset": data.name,
            "features_from": data.features_from,
            "committee": committee_label(config.committee),
        },
    )
    plot(points, summary, out / "learning_curve.png", title=title)
    console.print(summary_table(summary, title=f"{data.name}, {config.seeds} seeds"))
    console.print(f"wrote {out / 'curves.csv'}, {out / 'learning_curve.png'}, {out / 'summary.json'}")
    return summary


def summary_table(summary: Summary, *, title: str) -> Table:
    from alstream.simulation.loop import RANDOM

    table = Table(
        title=f"{title}: {summary.metric}, target = random's final {summary.target.text()} "
        f"(budget {summary.budget}; ± is a 95% interval across seeds)"
    )
    for column in (
        "strategy",
        f"final {summary.metric}",
        "labels to target",
        "seeds reaching",
        "labels saved",
        "area vs random",
    ):
        table.add_column(column)
    for s in summary.ranked():
        mine = s.strategy != RANDOM
        saved = "-"
        if mine and s.labels_saved is not None and s.labels_saved_count is not None:
            saved = f"{s.labels_saved.text(percent=True)} ({s.labels_saved_count.mean:+.0f})"
        table.add_row(
            s.strategy,
            s.final.text(),
            s.labels_to_target.text(digits=0) + ("" if s.seeds_reaching_target == s.seeds else " (≥)"),
            f"{s.seeds_reaching_target}/{s.seeds}",
            saved,
            s.area_vs_random.text(digits=3) if mine and s.area_vs_random else "-",
        )
    return table


def register(app: typer.Typer) -> None:
    @app.command()
    def simulate(
        ctx: typer.Context,
        dataset: Annotated[str, typer.Option(help=DATASET_HELP)] = "digits",
        policy: Annotated[
            Path | None,
            typer.Option(help="Selection policy TOML (default: settings paths.policy_file)."),
        ] = None,
        signal: Annotated[
            str | None,
            typer.Option(help="Try a signal without a policy file (ad-hoc policy, 15% random slice)."),
        ] = None,
        model: Annotated[str | None, typer.Option(help=MODEL_HELP)] = None,
        budget: Annotated[int, typer.Option(help="Labels per run, the seed set included.")] = 300,
        seeds: Annotated[int, typer.Option(help="Repetitions with different splits and seed sets.")] = 3,
        batch_size: Annotated[int, typer.Option(help="Labels per round between retrains.")] = 20,
        initial: Annotated[int, typer.Option(help="Random stratified seed set size.")] = 20,
        metric: Annotated[
            str | None,
            typer.Option(
                help="accuracy, macro_f1 or recall:<class> (default: the dataset's goal, macro_f1)."
            ),
        ] = None,
        target: Annotated[
            float | None,
            typer.Option(help="Target metric (default: random's final, per seed)."),
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
        label_column: Annotated[
            str, typer.Option(help="Label column (or metadata key) of a file dataset.")
        ] = "label",
        out: Annotated[
            Path, typer.Option(help="Directory for curves.csv, learning_curve.png, summary.json.")
        ] = Path("simulation"),
    ) -> None:
        """Replay a labeled dataset through the agents' policy code against random; show labels saved."""
        from alstream.simulation.datasets import load_dataset
        from alstream.simulation.loop import RANDOM, strategy_label

        selection = _selection(ctx, policy, signal)
        data = load_dataset(dataset, label_column=label_column)
        config = simulation_config(
            ctx,
            data=data,
            budget=budget,
            seeds=seeds,
            batch_size=batch_size,
            initial=initial,
            metric=metric,
            model=model,
            quotas=quotas,
            labels_per_day=labels_per_day,
        )
        run_and_report(
            console=Console(),
            data=data,
            policies=[selection],
            config=config,
            out=out,
            target=target,
            title=f"{data.name}: {strategy_label(selection)} vs {RANDOM}, {seeds} seeds",
        )


def simulation_config(
    ctx: typer.Context,
    *,
    data: Dataset,
    budget: int,
    seeds: int,
    batch_size: int,
    initial: int,
    metric: str | None,
    model: str | None,
    quotas: Path | None = None,
    labels_per_day: int = 100,
) -> object:
    from alstream.simulation.loop import SimulationConfig

    rules = None
    if quotas is not None:
        from alstream.agents.router.quotas import load_quotas

        rules = load_quotas(quotas)
    config = SimulationConfig(
        budget=budget,
        seeds=seeds,
        batch_size=batch_size,
        initial_size=initial,
        metric=metric or data.default_metric,
        quotas=rules,
        labels_per_day=labels_per_day,
        committee=committee_option(model, ctx),
    )
    config.check(data)
    return config


def _selection(ctx: typer.Context, policy: Path | None, signal: str | None) -> Policy:
    from alstream.agents.selection.policy import load_policy
    from alstream.simulation.loop import adhoc_policy

    if signal is not None:
        return adhoc_policy(signal)
    path = policy or settings_from(ctx).paths.policy_file
    if path is None:
        raise ConfigError(
            "no policy: pass --policy FILE (or set ALSTREAM_PATHS__POLICY_FILE), or --signal NAME"
        )
    return load_policy(path)
