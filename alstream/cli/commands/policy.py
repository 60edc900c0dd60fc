"""``alstream policy check|explain|apply|history|compare``: the ML owner's selection policy.

``apply`` is the only way a policy becomes active when ``paths.policy_file`` is not pinned: it
refuses a change without a version bump, refuses changes more often than weekly unless ``--force``,
and records every change in ``<state_dir>/policy-history.jsonl``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from alstream.agents.selection.exceptions import PolicyError
from alstream.agents.selection.history import active_policy, apply_policy, read_history
from alstream.agents.selection.policy import BASELINE_POLICY, Policy, load_policy
from alstream.agents.selection.signals import SIGNALS, describe_parameters
from alstream.cli.commands.simulate import MODEL_HELP, run_and_report, simulation_config
from alstream.cli.context import settings_from


def _describe(policy: Policy) -> list[str]:
    lines = [f"Policy {policy.version} (owner: {policy.owner})", f"Goal: {policy.goal}"]
    if policy.signals:
        fused = policy.build_signal(_checking=True)
        lines += [f"Signals (rank fusion): {policy.signal_name}", f"  {fused.explanation}"]
        for spec in policy.signal_specs:
            lines.append(f"  - {spec.name} (weight {spec.weight:g}) {spec.params or ''}".rstrip())
            lines.append(f"    {SIGNALS[spec.name].explanation}")  # type: ignore[attr-defined]
    else:
        spec = policy.signal_specs[0]
        lines += [
            f"Signal: {spec.name} {spec.params or ''}".rstrip(),
            f"  {SIGNALS[spec.name].explanation}",  # type: ignore[attr-defined]
        ]
    n = policy.candidates_per_window
    diversity = (
        f"{n} candidates spread over the embedding space ({policy.diversity.method} among its top "
        f"{policy.diversity.pool:g} x {n} by score)"
        if policy.diversity.method != "none"
        else f"its top {n} by score"
    )
    cold = (
        f"Cold start: random selection until the model has {policy.cold_start.labels_per_class} labels "
        "of every class."
        if policy.cold_start.labels_per_class
        else "Cold start: none (the policy's signal ranks from the first model on)."
    )
    return [
        *lines,
        f"Unit of work: {policy.unit_of_work}",
        f"Diversity: each window sends {diversity}.",
        cold,
        f"Random slice: {policy.random_slice_fraction:.0%} of items, fixed forever by a salted hash "
        f"of item_id (salt {policy.random_slice_salt!r}); slice items are never selected by score.",
        f"Candidates per {policy.window_seconds:g} s window and partition: "
        f"top {policy.candidates_per_window} by score, "
        f"{policy.random_slice_candidates_per_window} from the random slice, "
        f"up to {policy.qa_gold_per_window} QA gold.",
        f"Shifted domain: while the random slice's PSI > {policy.drift_psi_threshold:g}, "
        f"{policy.shift_review_share:.0%} of items with confidence >= {policy.shift_review_min_confidence:g} "
        f"also go to humans (up to {policy.shift_review_per_window} per window).",
    ]


def _referenced_files(policy: Policy) -> tuple[list[str], list[str]]:
    """Files the policy names that are not there: (refusals, notes).

    The QA gold set is the team's fixed input, so a missing one is refused. The failure bank is
    written by the agreement agent as failures are found, so on a new deployment it is expected to
    be missing; that is a note, saying what the signal does until then.
    """
    missing, notes = [], []
    if policy.qa_gold_file is not None and not Path(policy.qa_gold_file).is_file():
        missing.append(
            f"qa_gold_file {policy.qa_gold_file} does not exist (the stable QA set, item_id,label CSV)"
        )
    for spec in policy.signal_specs:
        bank = spec.params.get("bank_file")
        if bank and not Path(bank).is_file():
            notes.append(
                f"signal.params.bank_file {bank} does not exist yet: the agreement agent writes it as the "
                "model's failures are found; until then failure_distance ranks every item alike"
            )
    return missing, notes


def register(app: typer.Typer) -> None:
    policy_app = typer.Typer(help="Check, explain and apply the selection policy.", no_args_is_help=True)
    app.add_typer(policy_app, name="policy")

    @policy_app.command("check")
    def check(file: Annotated[Path, typer.Argument(help="Policy TOML file.", exists=False)]) -> None:
        """Validate a policy file and the files it names (exit 2 with the reason if it is refused)."""
        policy = load_policy(file)
        missing, notes = _referenced_files(policy)
        if missing:
            raise PolicyError(f"policy {file}: " + "; ".join(missing))
        typer.echo(f"ok: policy {policy.version}, signal {policy.signal_name}, goal: {policy.goal}")
        for spec in policy.signal_specs:
            typer.echo(describe_parameters(spec.name) + f"; this policy sets {spec.params or 'none'}")
        for note in notes:
            typer.secho(f"note: {note}", fg=typer.colors.YELLOW)

    @policy_app.command("explain")
    def explain(
        ctx: typer.Context,
        file: Annotated[Path | None, typer.Argument(help="Policy file; default: the active one.")] = None,
        signals: Annotated[bool, typer.Option("--signals", help="Explain every available signal.")] = False,
    ) -> None:
        """Say in plain words what a policy (or every signal) does."""
        if signals:
            for name in sorted(SIGNALS):
                typer.echo(f"{name}: {SIGNALS[name].explanation}")  # type: ignore[attr-defined]
            return
        if file is not None:
            policy = load_policy(file)
        else:
            settings = settings_from(ctx)
            if settings.paths.policy_file is not None:
                policy = load_policy(settings.paths.policy_file)
            else:
                policy = active_policy(settings.paths.state_dir) or BASELINE_POLICY
        for line in _describe(policy):
            typer.echo(line)

    @policy_app.command("apply")
    def apply(
        ctx: typer.Context,
        file: Annotated[Path, typer.Argument(help="Policy TOML file to make active.")],
        force: Annotated[
            bool, typer.Option("--force", help="Allow a change within a week (recorded).")
        ] = False,
        reason: Annotated[str, typer.Option(help="Why the policy changes (recorded in the history).")] = "",
    ) -> None:
        """Make a policy active: needs a version bump, at most weekly unless --force; recorded."""
        settings = settings_from(ctx)
        result = apply_policy(file, state_dir=settings.paths.state_dir, force=force, reason=reason)
        typer.echo(result.message)
        if settings.paths.policy_file is not None:
            typer.secho(
                f"note: paths.policy_file={settings.paths.policy_file} is set and pins the scorer's policy; "
                "unset it to use the applied one",
                fg=typer.colors.YELLOW,
            )

    @policy_app.command("history")
    def history(ctx: typer.Context) -> None:
        """Every policy change recorded under the state directory, oldest first."""
        settings = settings_from(ctx)
        table = Table("applied at", "version", "previous", "signal", "forced", "reason")
        for entry in read_history(settings.paths.state_dir):
            table.add_row(
                entry["applied_at"],
                entry["version"],
                str(entry["previous_version"] or ""),
                entry["signal"],
                "yes" if entry["forced"] else "",
                entry.get("reason", ""),
            )
        Console().print(table)

    @policy_app.command("compare")
    def compare(
        ctx: typer.Context,
        files: Annotated[list[Path], typer.Argument(help="Two or more policy TOML files to rank.")],
        dataset: Annotated[
            str,
            typer.Option(
                help="The team's own history: a release directory or its items.parquet, a labeled "
                "JSONL / CSV / Parquet file, or a named dataset (see `alstream simulate --help`)."
            ),
        ],
        model: Annotated[str | None, typer.Option(help=MODEL_HELP)] = None,
        budget: Annotated[int, typer.Option(help="Labels per run, the seed set included.")] = 300,
        seeds: Annotated[int, typer.Option(help="Repetitions with different splits and seed sets.")] = 5,
        batch_size: Annotated[int, typer.Option(help="Labels per round between retrains.")] = 20,
        initial: Annotated[int, typer.Option(help="Random stratified seed set size.")] = 20,
        metric: Annotated[
            str | None, typer.Option(help="accuracy, macro_f1 or recall:<class> (default: macro_f1).")
        ] = None,
        label_column: Annotated[str, typer.Option(help="Label column (or metadata key).")] = "label",
        out: Annotated[Path, typer.Option(help="Directory for curves, plot and summary.")] = Path(
            "policy-compare"
        ),
    ) -> None:
        """Rank policies on labeled history against random and each other (labels saved, then area)."""
        from alstream.simulation.datasets import load_dataset

        if len(files) < 2:
            raise typer.BadParameter("give two or more policy files to compare")
        policies = [load_policy(file) for file in files]
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
        )
        console = Console()
        summary = run_and_report(
            console=console,
            data=data,
            policies=policies,
            config=config,
            out=out,
            target=None,
            title=f"{data.name}: {len(policies)} policies vs random",
        )
        best = summary.ranked()[0]
        saved = best.labels_saved.text(percent=True) if best.labels_saved else "n/a"
        console.print(
            f"best: {best.strategy}, labels saved {saved} "
            "versus random (the guide: run the baseline for a week, then compare on that history)"
        )
