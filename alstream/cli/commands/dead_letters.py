"""``alstream dead-letters list|tail|replay``: what agents refused, why, and sending it back after a fix."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from alstream.cli.context import cluster_settings_from
from alstream.dead_letters.filters import Filter, parse_id, parse_time
from alstream.dead_letters.letters import DeadLetter
from alstream.exceptions import ConfigError
from alstream.settings import AlstreamSettings

AgentOption = Annotated[list[str] | None, typer.Option("--agent", help="Only this agent's (repeatable).")]
SourceOption = Annotated[
    list[str] | None,
    typer.Option("--source-topic", help="Only from this topic: base name (items) or full name (repeatable)."),
]
ClassOption = Annotated[
    list[str] | None,
    typer.Option("--error-class", help="Only this error class, e.g. WrongMagic (repeatable)."),
]
SinceOption = Annotated[
    str | None, typer.Option(help="Failed at or after: ISO-8601 time or an age (30m, 6h, 7d).")
]
UntilOption = Annotated[str | None, typer.Option(help="Failed at or before: ISO-8601 time or an age.")]
IdOption = Annotated[
    list[str] | None,
    typer.Option("--id", help="Only this dead letter, partition:offset as listed (repeatable)."),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Machine-readable output (a JSON array; lines for tail).")
]


def _filter(
    settings: AlstreamSettings,
    *,
    agents: list[str] | None,
    sources: list[str] | None,
    classes: list[str] | None,
    since: str | None,
    until: str | None,
    ids: list[str] | None = None,
) -> Filter:
    prefix = settings.kafka.topic_prefix
    return Filter(
        agents=frozenset(agents or ()),
        # A base name gets the deployment's prefix; a name that already carries it is kept.
        source_topics=frozenset(
            t if t.startswith(prefix) else settings.kafka.topic(t) for t in sources or ()
        ),
        error_classes=frozenset(classes or ()),
        since=parse_time(since) if since else None,
        until=parse_time(until) if until else None,
        ids=frozenset(parse_id(i) for i in ids or ()),
    )


def _when(letter: DeadLetter) -> str:
    failed_at = letter.failed_at
    return failed_at.strftime("%Y-%m-%d %H:%M:%S") if isinstance(failed_at, datetime) else "-"


def _source(letter: DeadLetter) -> str:
    topic, partition, offset = (
        letter.get(f"source_{part}", "?") for part in ("topic", "partition", "offset")
    )
    return f"{topic}[{partition}]@{offset}"


def _table(letters: list[DeadLetter], *, title: str) -> Table:
    table = Table(title=title)
    table.add_column("id", no_wrap=True)
    table.add_column("failed at (UTC)", no_wrap=True)
    table.add_column("agent", no_wrap=True)
    table.add_column("source", no_wrap=True)
    table.add_column("error", no_wrap=True)
    table.add_column("message", overflow="fold")
    table.add_column("key", overflow="fold")
    for letter in letters:
        key = letter.to_json()["key"]
        if letter.record is None:
            table.add_row(letter.id, "-", "-", "-", "unreadable", letter.decode_error or "", str(key))
            continue
        note = " (truncated original)" if letter.truncation else ""
        table.add_row(
            letter.id,
            _when(letter),
            str(letter.get("agent")),
            _source(letter),
            str(letter.get("error_class")),
            str(letter.get("error_message"))[:200] + note,
            key if isinstance(key, str) else json.dumps(key),
        )
    return table


def _console() -> Console:
    # A pipe gets a wide table: ids and topics are never cut (scripts should use --json).
    return Console(width=None if sys.stdout.isatty() else 220)


def register(app: typer.Typer) -> None:
    group = typer.Typer(
        help="List, follow and replay dead letters (records agents refused, kept with why).",
        no_args_is_help=True,
    )
    app.add_typer(group, name="dead-letters")

    @group.command("list")
    def list_(
        ctx: typer.Context,
        agent: AgentOption = None,
        source_topic: SourceOption = None,
        error_class: ClassOption = None,
        since: SinceOption = None,
        until: UntilOption = None,
        dead_letter_id: IdOption = None,
        limit: Annotated[int, typer.Option(min=0, help="Show the newest N only (0: all).")] = 0,
        as_json: JsonOption = False,
    ) -> None:
        """Dead letters with their reason and origin, oldest first; a count by agent and error below."""
        from alstream.dead_letters.reading import read_dead_letters

        settings = cluster_settings_from(ctx)
        selection = _filter(
            settings,
            agents=agent,
            sources=source_topic,
            classes=error_class,
            since=since,
            until=until,
            ids=dead_letter_id,
        )
        letters = sorted(
            read_dead_letters(settings, selection), key=lambda d: (_when(d), d.partition, d.offset)
        )
        if limit:
            letters = letters[-limit:]
        if as_json:
            typer.echo(json.dumps([letter.to_json() for letter in letters], indent=2))
            return
        console = _console()
        console.print(_table(letters, title=f"dead letters on {settings.kafka.topic('dead-letters')}"))
        counts: dict[tuple[str, str], int] = {}
        for letter in letters:
            key = (str(letter.get("agent", "?")), str(letter.get("error_class", "unreadable")))
            counts[key] = counts.get(key, 0) + 1
        summary = Table("agent", "error", "dead letters", title="by agent and error")
        for (who, what), count in sorted(counts.items()):
            summary.add_row(who, what, str(count))
        console.print(summary)

    @group.command("tail")
    def tail(
        ctx: typer.Context,
        agent: AgentOption = None,
        source_topic: SourceOption = None,
        error_class: ClassOption = None,
        from_beginning: Annotated[bool, typer.Option(help="Start at the oldest, not at the end.")] = False,
        max_letters: Annotated[
            int, typer.Option("--max", min=0, help="Stop after this many (0: until Ctrl-C).")
        ] = 0,
        as_json: JsonOption = False,
    ) -> None:
        """Follow dead letters as agents write them, one line each, until Ctrl-C (or --max)."""
        from alstream.dead_letters.reading import follow_dead_letters

        settings = cluster_settings_from(ctx)
        selection = _filter(
            settings, agents=agent, sources=source_topic, classes=error_class, since=None, until=None
        )
        seen = 0
        if not as_json:
            typer.echo(f"following {settings.kafka.topic('dead-letters')} (Ctrl-C to stop)", err=True)
        try:
            for letter in follow_dead_letters(settings, selection, from_beginning=from_beginning):
                if as_json:
                    typer.echo(json.dumps(letter.to_json()))
                else:
                    typer.echo(
                        f"{letter.id}  {_when(letter)}  {letter.get('agent')}  {_source(letter)}  "
                        f"{letter.get('error_class')}: {letter.get('error_message')}"
                    )
                sys.stdout.flush()
                seen += 1
                if max_letters and seen >= max_letters:
                    break
        except KeyboardInterrupt:
            pass

    @group.command("replay")
    def replay_(
        ctx: typer.Context,
        agent: AgentOption = None,
        source_topic: SourceOption = None,
        error_class: ClassOption = None,
        since: SinceOption = None,
        until: UntilOption = None,
        dead_letter_id: IdOption = None,
        replay_all: Annotated[
            bool, typer.Option("--all", help="Replay every dead letter (no filter): say so explicitly.")
        ] = False,
        dry_run: Annotated[bool, typer.Option(help="Say what would be replayed; send nothing.")] = False,
        as_json: JsonOption = False,
    ) -> None:
        """Send selected dead letters back to their source topic and partition, as they were, once each.

        Run it after fixing what made them fail (a schema the agent lacked, a configuration). A dead
        letter already replayed is reported, not sent again; one holding only a prefix of a too-large
        original is refused (exit 2).
        """
        from alstream.dead_letters.reading import read_dead_letters
        from alstream.dead_letters.replay import REFUSED, replay

        settings = cluster_settings_from(ctx)
        selection = _filter(
            settings,
            agents=agent,
            sources=source_topic,
            classes=error_class,
            since=since,
            until=until,
            ids=dead_letter_id,
        )
        if selection.empty and not replay_all:
            raise ConfigError(
                "replay needs a filter (--id, --agent, --source-topic, --error-class, --since, --until) "
                "or --all to replay every dead letter"
            )
        letters = read_dead_letters(settings, selection)
        outcomes = replay(settings, letters, dry_run=dry_run)
        if as_json:
            typer.echo(
                json.dumps(
                    [{"id": o.letter.id, "outcome": o.outcome, "detail": o.detail} for o in outcomes],
                    indent=2,
                )
            )
        else:
            table = Table(title=f"replay of {len(outcomes)} dead letters" + (" (dry run)" if dry_run else ""))
            for column in ("id", "source", "error", "outcome"):
                table.add_column(column, no_wrap=True)
            table.add_column("detail", overflow="fold")
            for o in outcomes:
                table.add_row(
                    o.letter.id, _source(o.letter), str(o.letter.get("error_class")), o.outcome, o.detail
                )
            _console().print(table)
        if any(o.outcome == REFUSED for o in outcomes):
            raise typer.Exit(2)
