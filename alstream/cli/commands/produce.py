"""``alstream produce FILE``: validate the items of a JSONL / CSV / Parquet file and produce them.

Nothing is lost silently: every refused record is written to the rejects file with its line number,
reason and original content; the command exits only after the Kafka producer flushed, and reports
broker delivery failures too. Exit codes: 0 every record sent and acknowledged; 1 some records were
rejected (the valid ones were all acknowledged); 3 some valid records were not acknowledged by the
broker; 2 the file or the configuration could not be used at all; 130 interrupted (what was read
before Ctrl-C was still flushed and reported).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table

from alstream.cli.context import cluster_settings_from
from alstream.cli.output import print_error
from alstream.ingest import ItemProducer
from alstream.ingest.exceptions import InputFileError, TopicUnavailable
from alstream.ingest.files import Chunk, ColumnPrefixes, detect_format, progress_total, read_chunks
from alstream.ingest.metrics import ITEMS_REJECTED

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_UNUSABLE = 2
EXIT_UNDELIVERED = 3
EXIT_INTERRUPTED = 130


class RejectsFile:
    """The JSONL file of refused records: one object per record, in file order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: IO[str] = path.open("w", encoding="utf-8")
        self.reasons: Counter[str] = Counter()

    def write(self, *, line: int | None, item_id: str | None, reason: str, message: str, record: Any) -> None:
        self.reasons[reason] += 1
        entry = {"line": line, "item_id": item_id, "reason": reason, "message": message, "record": record}
        try:
            text = json.dumps(entry, default=_jsonable, ensure_ascii=False, allow_nan=False)
        except ValueError:  # NaN / Infinity in the record: write them as strings so the file stays JSON
            text = json.dumps(_finite(entry), default=_jsonable, ensure_ascii=False)
        self._handle.write(text + "\n")

    def close(self) -> None:
        self._handle.close()


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "tolist"):  # numpy arrays and scalars (Parquet vectors)
        return _finite(value.tolist())
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _send_chunk(producer: ItemProducer, chunk: Chunk, rejects: RejectsFile) -> int:
    """Produce a chunk's readable records; write every refused one to the rejects file. Returns refusals."""
    readable = [i for i in range(len(chunk.lines)) if i not in chunk.problems]
    # position -> (item id, reason, message); a record refused while reading has no item id
    refused: dict[int, tuple[str | None, str, str]] = {
        position: (None, reason, message) for position, (reason, message) in chunk.problems.items()
    }
    for reason, _ in chunk.problems.values():  # refused while reading: counted like validation refusals
        ITEMS_REJECTED.labels(reason).inc()
    if readable:
        records = [chunk.records[i] for i in readable]
        for rejection in producer.send_many(records):
            refused[readable[rejection.index]] = (rejection.item_id, rejection.reason, rejection.message)
    for position in sorted(refused):
        item_id, reason, message = refused[position]
        rejects.write(
            line=chunk.lines[position],
            item_id=item_id,
            reason=reason,
            message=message,
            record=chunk.originals[position],
        )
    return len(refused)


def register(app: typer.Typer) -> None:
    @app.command()
    def produce(
        ctx: typer.Context,
        file: Annotated[Path, typer.Argument(help="Items as JSONL, CSV or Parquet (see docs/ingestion.md).")],
        file_format: Annotated[
            str | None,
            typer.Option("--format", help="jsonl, csv or parquet; default: from the file suffix."),
        ] = None,
        source: Annotated[
            str | None,
            typer.Option(help="Source for records without one; default: the file name without suffixes."),
        ] = None,
        rejects: Annotated[
            Path | None,
            typer.Option(help="Where refused records go (JSONL); default: FILE.rejects.jsonl."),
        ] = None,
        embedding_prefix: Annotated[str, typer.Option(help="Column prefix of embedding values.")] = "emb_",
        probability_prefix: Annotated[str, typer.Option(help="Column prefix of probabilities.")] = "prob_",
        metadata_prefix: Annotated[str, typer.Option(help="Column prefix of metadata entries.")] = "meta_",
        chunk_size: Annotated[
            int, typer.Option(min=1, help="Records validated and produced per batch.")
        ] = 5_000,
        flush_timeout: Annotated[
            float | None,
            typer.Option(
                min=1,
                help="Seconds to wait for the broker's acknowledgements at the end "
                "(default: kafka.outage_tolerance_s, so a broker outage is waited out).",
            ),
        ] = None,
        progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    ) -> None:
        """Validate and produce the items of FILE to the items topic; report what was refused and why."""
        console = Console(stderr=True)
        try:
            if not file.is_file():
                raise InputFileError(f"{file} does not exist or is not a file")
            fmt = detect_format(file, file_format)
            total = progress_total(file, fmt)
        except InputFileError as exc:
            print_error(str(exc))
            raise typer.Exit(EXIT_UNUSABLE) from None
        settings = cluster_settings_from(ctx)  # after the file checks: a typo needs no cluster to report
        rejects_path = rejects or file.with_name(file.name + ".rejects.jsonl")
        default_source = source or file.name.split(".", 1)[0]
        prefixes = ColumnPrefixes(embedding_prefix, probability_prefix, metadata_prefix)
        producer = ItemProducer(settings=settings, default_source=default_source)
        try:
            producer.check_topic()  # also connects the client, so the first sends wait for no connection
        except TopicUnavailable as exc:
            producer.close(1.0)
            print_error(str(exc))
            raise typer.Exit(EXIT_UNUSABLE) from None
        sink = RejectsFile(rejects_path)
        records = rejected = 0
        interrupted = unreadable = False
        bar = Progress(
            TextColumn("[bold]produce[/bold] {task.fields[name]}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[records]:,} records, {task.fields[rejected]:,} rejected"),
            TimeRemainingColumn(),
            console=console,
            disable=not progress,
        )
        try:
            with bar:
                task = bar.add_task("produce", total=total or None, name=file.name, records=0, rejected=0)
                try:
                    for chunk in read_chunks(file, fmt=fmt, chunk_size=chunk_size, prefixes=prefixes):
                        rejected += _send_chunk(producer, chunk, sink)
                        records += len(chunk.lines)
                        bar.update(task, completed=chunk.progress, records=records, rejected=rejected)
                except InputFileError as exc:
                    print_error(f"{exc} (records before it were sent; see the summary)")
                    unreadable = True
                except KeyboardInterrupt:
                    console.print("[yellow]interrupted: flushing what was already read[/yellow]")
                    interrupted = True
                bar.update(task, description="flushing")
            if flush_timeout is None:
                flush_timeout = settings.kafka.outage_tolerance_s
            report = producer.flush(flush_timeout)
            for failure in report.failures:
                sink.write(
                    line=None,
                    item_id=failure.item_id,
                    reason="delivery_failed",
                    message=failure.error,
                    record=None,
                )
            if report.pending:
                sink.write(
                    line=None,
                    item_id=None,
                    reason="not_acknowledged",
                    message=f"{report.pending} items still unacknowledged after {flush_timeout:g}s",
                    record=None,
                )
        finally:
            sink.close()
            producer.close(1.0)  # already flushed above: this only releases the client

        table = Table("outcome", "items", title=f"alstream produce {file.name}")
        table.add_row("records read", f"{records:,}")
        table.add_row("sent (acknowledged by the broker)", f"{report.acknowledged:,}")
        table.add_row("rejected (see the rejects file)", f"{rejected:,}")
        table.add_row("delivery failures", f"{len(report.failures):,}")
        table.add_row("unacknowledged at exit", f"{report.pending:,}")
        Console().print(table)
        if sink.reasons:
            reasons = ", ".join(f"{reason} {count}" for reason, count in sink.reasons.most_common())
            typer.echo(f"rejects: {rejects_path} ({reasons})")
        else:
            typer.echo(f"rejects: none ({rejects_path} is empty)")
        if report.failures or report.pending:
            code = EXIT_UNDELIVERED
        elif unreadable:
            code = EXIT_UNUSABLE
        elif interrupted:
            code = EXIT_INTERRUPTED
        elif rejected:
            code = EXIT_REJECTED
        else:
            code = EXIT_OK
        raise typer.Exit(code)
