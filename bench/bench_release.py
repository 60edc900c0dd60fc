"""Release builds against history size: time and peak memory, full and incremental, side by side.

For each history (candidates C, labels L: C candidates with 64-dim embeddings, L of their items
assigned and labeled once), in one run on one broker:

* raw reads: the labels topic, and the three topics a build reads (labels, assignments, candidates),
  read to their ends without decoding (what the target compares with, and the floor of a full build);
* full build: ``release build --full`` work (a fresh ledger read from the topics, then the release);
* first build: the agent's ledger filled from empty (every candidate kept), then the release;
* weekly builds: a week of W new labels (with their candidates and assignments) arrives, then the
  agent's build: its ledger synced with only what arrived, the changed items recomputed and the rest
  copied from the previous release's files (the table gives how many items were recomputed).

Every build runs in a child process; its peak RSS is that child's ``ru_maxrss`` (``os.wait4``), so
one measurement never inherits another's memory. Uses its own embedded broker unless
``KAFKA_BOOTSTRAP_SERVERS`` is set.

    .venv/bin/python -m bench.bench_release [--histories 100k:10k,1M:10k,1M:100k] [--weeks 1k,10k]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from confluent_kafka import Producer
from rich.console import Console
from rich.table import Table

from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.codecs import codec_for
from alstream.streams.kafka_config import producer_config
from alstream.streams.reading import read_to_end
from alstream.streams.topics import create_topics

CLASSES = ["cat", "dog", "fox"]
DIM = 64
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def count(text: str) -> int:
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text.rstrip("km")) * scale)


def produce(
    settings: AlstreamSettings, *, first_item: int, candidates: int, labels: int, at: datetime
) -> None:
    """``candidates`` items selected at ``at``; the first ``labels`` of them assigned and labeled."""
    producer = Producer({**producer_config(settings), "linger.ms": 50, "batch.num.messages": 10_000})
    codecs = {name: codec_for(name, settings) for name in ("candidates", "assignments", "labels")}
    topic = {name: settings.kafka.topic(name) for name in codecs}
    embedding = np.random.default_rng(0).normal(size=DIM).astype("<f4").tobytes()

    def send(topic_name: str, **kwargs: Any) -> None:
        while True:
            try:
                producer.produce(topic_name, **kwargs)
                return
            except BufferError:  # the local queue is full: let the broker catch up
                producer.poll(0.5)

    for n in range(first_item, first_item + candidates):
        item = f"item-{n:09d}"
        selected = at + timedelta(milliseconds=n % 86_400_000)
        send(
            topic["candidates"],
            key=item,
            value=codecs["candidates"].encode(
                {
                    "item_id": item,
                    "reason": "TOP_SCORE",
                    "score": 0.5,
                    "signal": "entropy",
                    "policy_version": "p1",
                    "model_version": "m1",
                    "unit_of_work": "ITEM",
                    "predicted_class": None,
                    "confidence": None,
                    "embedding": embedding,
                    "skills": [],
                    "uri": None,
                    "window_start": selected,
                    "selected_at": selected,
                }
            ),
        )
        if n - first_item < labels:
            annotator = f"ann{n % 50}"
            assigned = selected + timedelta(seconds=1)
            send(
                topic["assignments"],
                key=annotator,
                value=codecs["assignments"].encode(
                    {
                        "assignment_id": f"a-{n}",
                        "annotator_id": annotator,
                        "item_id": item,
                        "kind": "HARD",
                        "classes": CLASSES,
                        "uri": None,
                        "unit_of_work": "ITEM",
                        "policy_version": "p1",
                        "quota_version": "q1",
                        "model_version": "m1",
                        "overlap_group": None,
                        "calibration_id": None,
                        "assigned_at": assigned,
                        "lease_expires_at": assigned + timedelta(hours=1),
                    }
                ),
            )
            send(
                topic["labels"],
                key=item,
                value=codecs["labels"].encode(
                    {
                        "label_id": f"l-{n}",
                        "assignment_id": f"a-{n}",
                        "item_id": item,
                        "annotator_id": annotator,
                        "status": "LABELED",
                        "value": CLASSES[n % 3],
                        "root_cause": None,
                        "started_at": assigned + timedelta(seconds=2),
                        "submitted_at": assigned + timedelta(seconds=20),
                    }
                ),
            )
        producer.poll(0)
    if producer.flush(300):
        raise SystemExit("the broker did not take every record")


# -- child processes --------------------------------------------------------------------------------


def child(mode: str, cutoff: str) -> None:
    settings = load_settings()
    # imported before the clock starts: a running agent has its modules loaded
    from alstream.agents.release.ledger import Ledger
    from alstream.agents.release.service import build_and_announce

    started = time.perf_counter()
    if mode == "baseline":  # the interpreter with the build's modules imported, nothing read
        print(json.dumps({"seconds": time.perf_counter() - started, "records": 0}))
        return
    if mode in ("raw", "raw-all"):
        seen = [0]

        def note(messages: list[Any]) -> None:
            seen[0] += len(messages)

        names = ["labels"] if mode == "raw" else ["labels", "assignments", "candidates"]
        read_to_end(settings, [settings.kafka.topic(n) for n in names], note, agent="bench", patience_s=60)
        print(json.dumps({"seconds": time.perf_counter() - started, "records": seen[0]}))
        return
    synced = [0.0]  # seconds spent reading the topics into the ledger; the rest is the build itself
    sync = Ledger.sync

    def timed_sync(self: Ledger, *args: Any, **kwargs: Any) -> Any:
        begun = time.perf_counter()
        try:
            return sync(self, *args, **kwargs)
        finally:
            synced[0] += time.perf_counter() - begun

    Ledger.sync = timed_sync  # type: ignore[method-assign]
    outcome = build_and_announce(
        settings,
        cutoff=datetime.fromisoformat(cutoff),
        announce=False,
        full=mode == "full",
    )
    assert outcome is not None
    manifest = outcome.release.manifest
    print(
        json.dumps(
            {
                "seconds": time.perf_counter() - started,
                "sync_seconds": synced[0],
                "records": manifest["label_count"],
                "items": manifest["item_count"],
                "trainable": manifest["trainable_item_count"],
                "recomputed": outcome.release.recomputed_items,
                "from_parent": outcome.release.started_from is not None,
            }
        )
    )


def measure(env: dict[str, str], mode: str, cutoff: datetime) -> dict[str, Any]:
    """Run one measurement in a fresh process (fork + exec, so ``wait4`` gives that child's own peak
    RSS); returns its JSON line plus ``rss_mib``."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child execs the bench in child mode, stdout into the pipe
        os.close(read_fd)
        os.dup2(write_fd, 1)
        os.execve(
            sys.executable, [sys.executable, __file__, "--child", mode, "--cutoff", cutoff.isoformat()], env
        )
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        output = pipe.read()
    _, status, usage = os.wait4(pid, 0)
    if status != 0:
        raise SystemExit(f"{mode} child failed (status {status}): {output[-2000:]}")
    result = json.loads(output.strip().splitlines()[-1])
    result["rss_mib"] = usage.ru_maxrss / 1024  # Linux: KiB
    return result


# -- the run -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--histories", default="100k:10k,1M:10k,1M:100k", help="candidates:labels,...")
    parser.add_argument("--weeks", default="1k,10k", help="labels per weekly build, in order")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument(
        "--child", choices=["baseline", "raw", "raw-all", "full", "incremental"], help=argparse.SUPPRESS
    )
    parser.add_argument("--cutoff", help=argparse.SUPPRESS)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: the embedded broker stops too
    if args.child:
        child(args.child, args.cutoff)
        return
    console = Console()
    histories = [tuple(count(part) for part in pair.split(":")) for pair in args.histories.split(",")]
    weeks = [count(w) for w in args.weeks.split(",")]
    rows = []
    with ExitStack() as stack:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        cluster_env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap} if bootstrap else {}
        if not bootstrap:
            from alstream.streams.embedded_broker import EmbeddedBroker

            log_file = Path(tempfile.gettempdir()) / "bench-release-broker.log"
            broker = stack.enter_context(EmbeddedBroker(log_file=log_file))
            console.print(f"embedded broker log: {log_file}")
            cluster_env = broker.client_environment()
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-release-")))
        for candidates, labels in histories:
            prefix = f"bench{uuid.uuid4().hex[:6]}."
            state = workdir / prefix
            state.mkdir()
            env = {
                **os.environ,
                **cluster_env,
                "ALSTREAM_KAFKA__TOPIC_PREFIX": prefix,
                "ALSTREAM_METRICS__PORT": "0",
                "ALSTREAM_TASK__CLASSES": json.dumps(CLASSES),
                "ALSTREAM_PATHS__STATE_DIR": str(state),
            }
            settings = load_settings(environ=env)
            create_topics(settings, partitions_override=args.partitions)
            started = time.perf_counter()
            with console.status(f"producing {candidates:,} candidates, {labels:,} labels"):
                produce(settings, first_item=0, candidates=candidates, labels=labels, at=START)
            console.print(
                f"history {candidates:,} candidates / {labels:,} labels produced in "
                f"{time.perf_counter() - started:.0f} s"
            )
            cutoff = START + timedelta(days=2)
            baseline = measure(env, "baseline", cutoff)
            raw = measure(env, "raw", cutoff)
            raw_all = measure(env, "raw-all", cutoff)
            full = measure(env, "full", cutoff)
            assert full["records"] == labels, full
            first = measure(env, "incremental", cutoff)  # fills the agent's ledger: the first release
            row: dict[str, Any] = {
                "candidates": candidates,
                "labels": labels,
                "baseline_rss": baseline["rss_mib"],
                "raw_s": raw["seconds"],
                "raw_all_s": raw_all["seconds"],
                "raw_all_records": raw_all["records"],
                "full_s": full["seconds"],
                "full_rss": full["rss_mib"],
                "first_s": first["seconds"],
                "ratio": (labels / full["seconds"]) / (raw["records"] / raw["seconds"]),
                "weeks": [],
            }
            next_item = candidates
            for n, week in enumerate(weeks, start=1):
                at = START + timedelta(days=7 * n)
                produce(settings, first_item=next_item, candidates=week, labels=week, at=at)
                next_item += week
                weekly = measure(env, "incremental", at + timedelta(days=2))
                assert weekly["from_parent"], weekly
                row["weeks"].append(
                    (week, weekly["seconds"], weekly["sync_seconds"], weekly["recomputed"], weekly["rss_mib"])
                )
            rows.append(row)
            console.print(row)
    table = Table(title="release builds (child processes; figures taken while the machine was shared)")
    for column in (
        "candidates",
        "labels",
        "raw read of labels s (labels/s)",
        "raw read of the 3 topics s",
        "full build s (labels/s)",
        "full / raw labels",
        "full / raw 3 topics",
        "first build s",
        "process baseline RSS MiB",
        "full peak RSS MiB",
        *[f"week +{w:,}: s (sync) recomputed items / RSS MiB" for w in weeks],
        *[f"week +{w:,} / raw labels" for w in weeks],
    ):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            f"{row['candidates']:,}",
            f"{row['labels']:,}",
            f"{row['raw_s']:.2f} ({row['labels'] / row['raw_s']:,.0f})",
            f"{row['raw_all_s']:.2f}",
            f"{row['full_s']:.2f} ({row['labels'] / row['full_s']:,.0f})",
            f"{row['ratio']:.2f}",
            f"{row['raw_all_s'] / row['full_s']:.2f}",
            f"{row['first_s']:.1f}",
            f"{row['baseline_rss']:.0f}",
            f"{row['full_rss']:.0f}",
            *[f"{s:.1f} ({sync:.1f}) {n:,} / {rss:.0f}" for _, s, sync, n, rss in row["weeks"]],
            *[f"{(w / s) / (row['labels'] / row['raw_s']):.2f}" for w, s, _, _, _ in row["weeks"]],
        )
    console = Console(width=400)
    console.print(table)
    print(markdown(table))


def markdown(table: Table) -> str:
    """The table as Markdown (for the README and closing notes)."""
    headers = [str(column.header) for column in table.columns]
    cells = [list(column.cells) for column in table.columns]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for n in range(table.row_count):
        lines.append("| " + " | ".join(str(column[n]) for column in cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
