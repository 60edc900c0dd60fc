"""``alstream release build|list|show|diff``: versioned dataset releases."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from alstream.cli.context import cluster_settings_from, settings_from
from alstream.exceptions import ConfigError


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    return str(value)


def _cutoff(text: str | None, *, now: datetime | None = None) -> datetime:
    """The cut-off a user asked for, never later than now.

    A release cut in the future would sort after every release built until that moment, so
    ``latest`` and every later release's parent would point at it: refused, with the time it is now.
    """
    now = now or datetime.now(UTC)
    if text is None:
        return now
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--cutoff {text!r} is not ISO-8601 (e.g. 2026-11-27T16:00:00Z)") from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment > now:
        raise ConfigError(
            f"--cutoff {text} is in the future (it is {now.isoformat(timespec='seconds')} now); "
            "a release can only hold labels submitted so far: give a past time or leave --cutoff out"
        )
    return moment


def register(app: typer.Typer) -> None:
    release = typer.Typer(help="Build, list, show and compare dataset releases.", no_args_is_help=True)
    app.add_typer(release, name="release")

    @release.command("build")
    def build(
        ctx: typer.Context,
        cutoff: Annotated[
            str | None,
            typer.Option(
                help="Labels submitted up to this ISO time (default now); same cut-off, same bytes."
            ),
        ] = None,
        request: Annotated[
            bool, typer.Option(help="Ask the running release agent to build it instead.")
        ] = False,
        announce: Annotated[bool, typer.Option(help="Announce the release on the releases topic.")] = True,
        full: Annotated[
            bool,
            typer.Option(
                "--full",
                help="Rebuild from scratch: read the topics from their beginning into a fresh ledger "
                "(labels whose assignment or candidate has expired lose them; the agent's ledger kept them).",
            ),
        ] = False,
    ) -> None:
        """Build a release now (or at --cutoff) from the release ledger, store it and announce it."""
        from alstream.agents.release.requests import request_build
        from alstream.agents.release.service import build_and_announce

        moment = _cutoff(cutoff)  # before the cluster check: a wrong time needs no cluster to report
        settings = cluster_settings_from(ctx)
        console = Console()
        if request:
            path = request_build(settings, cutoff=moment if cutoff else None, reason="alstream release build")
            console.print(f"requested: {path} (the release agent builds it on its next tick)")
            return
        with console.status("reading the topics into the release ledger") as status:

            def progress(topic: str, records: int) -> None:
                status.update(f"reading the topics into the release ledger: {topic} {records:,} records")

            outcome = build_and_announce(
                settings, cutoff=moment, announce=announce, full=full, progress=progress
            )
        assert outcome is not None  # only skip_empty builds return None
        _print_manifest(console, outcome.release.manifest)
        console.print(f"{'built' if outcome.created else 'unchanged (already stored)'}: {outcome.uri}")

    @release.command("list")
    def list_(
        ctx: typer.Context,
        as_json: Annotated[
            bool, typer.Option("--json", help="One JSON array of the full manifests, for scripts.")
        ] = False,
    ) -> None:
        """Every release under the configured root, oldest first."""
        from alstream.agents.release.service import store_for

        store = store_for(settings_from(ctx))
        manifests = store.manifests()
        if as_json:
            typer.echo(json.dumps(manifests, indent=2, sort_keys=True))
            return
        table = Table(title=f"releases in {store.uri_prefix}")
        # Ids and times are what a reader copies: never cut or wrapped, whatever the width.
        table.add_column(
            "release", no_wrap=True, min_width=max((len(m["release_id"]) for m in manifests), default=7)
        )
        table.add_column("cut-off", no_wrap=True, min_width=20)
        table.add_column("parent", overflow="fold")
        for header in ("items", "added labels", "QA error", "agreement", "validation"):
            table.add_column(header, justify="right")
        for m in manifests:
            table.add_row(
                m["release_id"],
                m["created_at"],
                _fmt(m["parent_release_id"]),
                str(m["item_count"]),
                str(m["added_label_count"]),
                _fmt(m["qa_error_rate"]),
                _fmt(m["agreement"]),
                _fmt(m["validation_metric"]),
            )
        Console(width=None if sys.stdout.isatty() else 200).print(table)

    @release.command("show")
    def show(
        ctx: typer.Context,
        release_id: Annotated[str, typer.Argument(help="Id, unique prefix or 'latest'.")] = "latest",
    ) -> None:
        """A release's manifest as tables."""
        from alstream.agents.release.service import store_for

        store = store_for(settings_from(ctx))
        _print_manifest(Console(), store.manifest(store.resolve(release_id)))

    @release.command("diff")
    def diff(
        ctx: typer.Context,
        old: Annotated[
            str | None, typer.Argument(help="Older release id or prefix (default: NEW's parent).")
        ] = None,
        new: Annotated[str, typer.Argument(help="Newer release id, prefix or 'latest'.")] = "latest",
        limit: Annotated[int, typer.Option(help="Relabeled items to list.")] = 20,
    ) -> None:
        """Manifest fields that changed, and items added, removed or relabeled (default: latest vs parent)."""
        from alstream.agents.release.compare import diff_releases
        from alstream.agents.release.exceptions import ReleaseNotFound
        from alstream.agents.release.service import store_for

        store = store_for(settings_from(ctx))
        newer = store.resolve(new)
        if old is None:
            parent = store.manifest(newer).get("parent_release_id")
            if not parent:
                raise ReleaseNotFound(
                    f"release {newer} has no parent release: give the older release to compare with"
                )
            old = str(parent)
        result = diff_releases(store, store.resolve(old), newer)
        console = Console()
        table = Table("field", result.old["release_id"], result.new["release_id"], title="changed fields")
        for name, before, after in result.changed_fields():
            table.add_row(name, _fmt(before), _fmt(after))
        console.print(table)
        items = Table("change", "items", title="items")
        items.add_row("added", str(len(result.added_items)))
        items.add_row("removed", str(len(result.removed_items)))
        items.add_row("relabeled", str(len(result.relabeled_items)))
        console.print(items)
        if result.relabeled_items:
            relabeled = Table("item", "old label", "new label", title=f"relabeled (first {limit})")
            for item, before, after in result.relabeled_items[:limit]:
                relabeled.add_row(item, _fmt(before), _fmt(after))
            console.print(relabeled)


def _print_manifest(console: Console, m: dict[str, Any]) -> None:
    table = Table("field", "value", title=f"release {m['release_id']}")
    for name in (
        "release_id",
        "parent_release_id",
        "created_at",
        "uri",
        "content_hash",
        "policy_versions",
        "model_versions",
        "labels_from",
        "labels_to",
        "item_count",
        "new_item_count",
        "label_count",
        "added_label_count",
        "trainable_item_count",
        "qa_error_rate",
        "qa_checks",
        "agreement",
        "overlapped_items",
        "krippendorff_alpha",
        "validation_metric_name",
        "validation_metric",
        "validation_model_version",
    ):
        table.add_row(name, _fmt(m.get(name)))
    console.print(table)
    for title, key in (
        ("by assignment kind", "counts_by_kind"),
        ("by class", "counts_by_class"),
        ("flagged for adjudication", "adjudication"),
        ("excluded labels", "excluded_labels"),
    ):
        counts = Table(title.split()[-1], "count", title=title)
        for k, v in m.get(key, {}).items():
            counts.add_row(k, str(v))
        if m.get(key):
            console.print(counts)
