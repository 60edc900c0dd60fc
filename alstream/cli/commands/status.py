"""``alstream status``: one screen for the operator (docs/operations.md, "alstream status").

Broker, topics, agents (from their /metrics), consumer lag, the router's pool by candidate reason, and
the annotators: online, idle, and why each idle one gets no work. ``--json`` prints the same for
machines.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from alstream.agents.router.status import IDLE
from alstream.cli.context import settings_from
from alstream.contracts.enums import CANDIDATE_REASONS
from alstream.exceptions import ConfigError
from alstream.observability.metrics import AGENT_PORT_OFFSETS
from alstream.observability.status import StatusReport, collect, default_metrics_urls

# What the labeling lead does about each reason (the same words as docs/operations.md).
WHAT_TO_DO = {
    "in_flight_cap": "holds max_in_flight open items: waits for labels or lease expiry",
    "hard_quota": "used max_hard_per_day: only hard work is pooled; add normal work or wait for the day",
    "normal_share": "hard work waits but min_normal_share needs non-hard work first: feed normal work",
    "mix_share": "only QA gold / random-slice work waits, at its share cap (qa_rate, max_random_share)",
    "skills": "pooled work needs skills the annotator lacks",
    "already_seen": "had every pooled item it can do before",
    "empty_pool": "nothing pooled on that shard: the scorer sends no candidates",
}


def register(app: typer.Typer) -> None:
    @app.command()
    def status(
        ctx: typer.Context,
        as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
        metrics_host: Annotated[
            str, typer.Option(help="Host whose default agent ports (metrics.base_port + offset) are scraped.")
        ] = "127.0.0.1",
        metrics_url: Annotated[
            list[str] | None,
            typer.Option(
                help="AGENT=URL of an agent's /metrics, overriding the default (repeatable), "
                "e.g. router=http://router-1:9402/metrics."
            ),
        ] = None,
        annotators: Annotated[
            int, typer.Option(help="Most annotators listed in the table (idle ones first); all in --json.")
        ] = 30,
        timeout: Annotated[float, typer.Option(help="Seconds to wait for each source.")] = 5.0,
    ) -> None:
        """Broker, topics, agents, consumer lag, pool depth and why idle annotators get no work."""
        settings = settings_from(ctx)
        urls = default_metrics_urls(settings, metrics_host)
        for item in metrics_url or []:
            agent, sep, url = item.partition("=")
            if not sep or agent not in AGENT_PORT_OFFSETS or not url:
                raise ConfigError(
                    f"--metrics-url {item!r}: use AGENT=URL with AGENT one of {', '.join(AGENT_PORT_OFFSETS)}"
                )
            urls[agent] = url
        console = Console(stderr=True)
        if as_json or not console.is_terminal:
            report = collect(settings, metrics_urls=urls, timeout_s=timeout)
        else:
            with console.status("reading broker, agents and router status..."):
                report = collect(settings, metrics_urls=urls, timeout_s=timeout)
        if as_json:
            sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
        else:
            render(report, Console(width=max(Console().width, 120)), limit=annotators)
        if not report.broker.reachable:
            raise typer.Exit(1)


def _age(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "-"
    seconds = max(0.0, (now - then).total_seconds())
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


def render(report: StatusReport, console: Console, *, limit: int) -> None:
    now = report.generated_at.astimezone(UTC)
    broker = report.broker
    if broker.reachable:
        console.print(f"[bold]broker[/] {broker.bootstrap}: reachable ({broker.brokers} broker(s))")
    else:
        console.print(f"[bold]broker[/] {broker.bootstrap}: [red]unreachable[/] - {broker.error}")

    agents = Table("agent", "state", "last progress", "metrics", title="agents")
    for row in report.agents:
        state = "[green]up[/]" if row.up else f"[red]down[/] ({row.detail})"
        progress = "-" if row.last_progress_age_s is None else f"{row.last_progress_age_s:.0f} s ago"
        agents.add_row(row.agent, state, progress, row.url)
    console.print(agents)

    if report.topics:
        topics = Table("topic", "partitions", "cleanup", title="topics")
        for topic in report.topics:
            if topic.partitions is None:
                count = "[red]missing[/] (alstream topics create)"
            elif topic.partitions != topic.expected_partitions:
                count = f"{topic.partitions} (catalogue: {topic.expected_partitions})"
            else:
                count = str(topic.partitions)
            topics.add_row(topic.topic, count, topic.cleanup)
        console.print(topics)

    if report.lag:
        lag = Table("agent", "group", "topic", "lag (messages)", title="consumer lag")
        for lag_row in report.lag:
            behind = "no commits yet" if lag_row.lag is None else str(lag_row.lag)
            lag.add_row(lag_row.agent, lag_row.group, lag_row.topic, behind)
        console.print(lag)

    pool = report.pool
    if pool is not None:
        shards = f"{len(pool.shards)}/{report.expected_shards or '?'} shards reported"
        table = Table(
            "candidate reason",
            "pooled",
            title=f"router pool ({shards}, updated {_age(pool.oldest_update, now)})",
        )
        for reason in CANDIDATE_REASONS:
            table.add_row(reason, str(pool.depth.get(reason, 0)))
        table.add_row("open leases", str(pool.open_leases))
        console.print(table)

    views = report.annotators
    if pool is not None or views:
        online = [v for v in views if v.state != "offline"]
        idle = [v for v in views if v.state == IDLE]
        console.print(
            f"[bold]annotators[/] {len(online)} online, {len(idle)} idle, {len(views) - len(online)} offline"
        )
        shown = sorted(views, key=lambda v: (v.state != IDLE, v.state == "offline", v.annotator_id))[:limit]
        if shown:
            table = Table("annotator", "state", "why no work", "hard today", "in flight", "last READY")
            for view in shown:
                why = "-"
                if view.reason is not None:
                    giving = view.reasons.get(view.reason, 0)
                    why = f"{view.reason} ({giving}/{view.shards} shards): {WHAT_TO_DO.get(view.reason, '')}"
                state = f"[yellow]{view.state}[/]" if view.state == IDLE else view.state
                table.add_row(
                    view.annotator_id,
                    state,
                    why,
                    f"{view.hard_in_day}/{view.hard_cap}",
                    str(view.in_flight),
                    _age(view.last_ready_at, now),
                )
            console.print(table)
        if len(views) > len(shown):
            console.print(f"... {len(views) - len(shown)} more (--annotators N, or --json for all)")
    for problem in report.problems:
        console.print(f"[red]problem:[/] {problem}")
