"""The campaign's checker, modelled on Kafka's transactional system tests and Jepsen's queue checks:
compare what the broker *acknowledged* (the generators' ledger) with what every downstream topic
holds once the system has drained, and count every acknowledged record that went missing.

Invariants checked (each loss is counted, then listed in the report):

* every acknowledged item has a score; no bad item was scored; every candidate was scored;
* every invalid item the SDK was given was refused by it (never sent);
* every acknowledged bad item is on the dead-letter topic with its error class and message;
* every acknowledged invalid label is on the dead-letter topic with its reason; no valid label is;
* every acknowledged valid label is in the next release, and no invalid one is;
* no item is assigned twice to one annotator (on whatever the assignments topic holds).

* every acknowledged hostile record (every input topic: :mod:`hostile`) is on the dead-letter topic, at
  its coordinates, from the agent that owns the topic, with its error class and message; none is scored;
* every label the ``alstream annotate`` processes put on the labels topic is in the release, and no
  label id is in the release twice;
* no annotator above the hard-item quota per day, across router restarts;
* every candidate, by item id, is assigned (assignments topic) or pooled (the router's table, read from
  its state topic, ``router-state``);
* no process crash-looped (exited on its own more than ``crash_loop_after`` times).

Recovery: for a SIGKILL, from the restart to the process's ready line; for a broker pause, from SIGCONT to
the first score of an item sent after it.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow.parquet as pq

from alstream.agents.router.changelog import STATE_TOPIC, decode_value
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.dead_letters import error_headers
from alstream.streams.exceptions import DecodeError
from alstream.streams.reading import read_to_end
from tests.support.topic_dump import dump
from tests.support.waiting import wait_until


@dataclass
class Report:
    figures: dict[str, Any] = field(default_factory=dict)
    faults: Counter = field(default_factory=Counter)
    losses: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    recoveries: dict[str, float] = field(default_factory=dict)  # fault kind -> longest recovery (s)

    @property
    def total_losses(self) -> int:
        return sum(self.losses.values())

    def lose(self, invariant: str, what: str) -> None:
        self.losses[invariant] += 1
        if len(self.examples[invariant]) < 5:
            self.examples[invariant].append(what)

    def render(self) -> str:
        lines = ["fault-injection campaign"]
        lines += [f"  {k:<48} {v}" for k, v in self.figures.items()]
        lines.append(f"  {'faults injected':<48} {sum(self.faults.values())}")
        lines += [f"    {k:<46} {v}" for k, v in sorted(self.faults.items())]
        lines.append(f"  {'LOSSES':<48} {self.total_losses}")
        lines += [f"    {k:<46} {v}  e.g. {self.examples[k]}" for k, v in sorted(self.losses.items())]
        if self.recoveries:
            lines.append(f"  {'longest recovery by fault kind (s)':<48}")
            lines += [f"    {k:<46} {v:.1f}" for k, v in sorted(self.recoveries.items())]
        lines += [f"  error: {e}" for e in self.errors]
        return "\n".join(lines)


def records_of(settings: AlstreamSettings, base: str, *, keep_hostile: bool = False) -> list[dict[str, Any]]:
    """The decoded records of topic ``base``, without what does not decode and (unless
    ``keep_hostile``) without the campaign's hostile ones (which may decode: impossible times, NaN
    scores)."""
    codec = SingleObjectCodec(base)
    out = []
    for message in dump(settings, base):
        try:
            record = codec.decode(message.value())
        except DecodeError:
            continue
        if keep_hostile or not str(record.get("item_id", "")).startswith("hostile-"):
            out.append(record)
    return out


def _scores(settings: AlstreamSettings) -> set[str]:
    """Ids of the scored items (the scores' keys), less the hostile records written to the scores topic
    itself (keys ``hostile-<round>-scores-<kind>``)."""
    keys = {m.key().decode(errors="replace") for m in dump(settings, "scores") if m.key()}
    return {key for key in keys if not (key.startswith("hostile-") and "-scores-" in key)}


def _dead_letters(settings: AlstreamSettings) -> list[tuple[dict[str, Any], dict[str, str]]]:
    codec = SingleObjectCodec("dead-letters")
    out = []
    for message in dump(settings, "dead-letters"):
        try:  # the hostile set writes junk here too
            out.append((codec.decode(message.value()), error_headers(message.headers())))
        except DecodeError:
            continue
    return out


def check(
    settings: AlstreamSettings,
    ledger: Any,
    faults: Any,
    agents: dict[str, Any],
    *,
    drain_timeout_s: float,
    load_s: float,
    errors: list[str],
    router_metrics_port: int | None = None,
    max_hard_per_day: int = 0,
    watcher: Any = None,
    pauses: list[tuple[float, float]] | None = None,
) -> Report:
    report = Report(faults=Counter(faults.counts), errors=list(errors))
    acknowledged = ledger.acknowledged_items
    items_topic, labels_topic = settings.kafka.topic("items"), settings.kafka.topic("labels")

    # Drain: re-read the outputs until the agents caught up. If they never do, the per-item checks
    # below list what is missing, which says more than a timeout would, so the wait's expiry is not
    # the failure.
    drain_started = time.monotonic()
    seen: dict[str, Any] = {}

    def caught_up() -> bool:
        seen["scored"] = scored = _scores(settings)
        seen["dead"] = dead = _dead_letters(settings)
        seen["by_item_key"] = by_item_key = {
            (r["original_key"] or b"").decode(errors="replace"): (r, h)
            for r, h in dead
            if r["source_topic"] == items_topic
        }
        dead_labels = {
            f"{r['source_partition']}:{r['source_offset']}"
            for r, h in dead
            if r["source_topic"] == labels_topic and h.get("agent") == "labels"
        }
        dead_at = _dead_letter_positions(dead)
        return (
            acknowledged <= scored
            and set(ledger.bad_items) <= by_item_key.keys()
            and set(ledger.bad_labels) <= dead_labels
            and all(
                (position, h.agent) in dead_at
                for position, h in ledger.hostile.items()
                # a model announcement may be superseded unread (see _check_hostile)
                if h.topic != "models" and h.outcome == "dead-lettered"
            )
        )

    with contextlib.suppress(AssertionError):
        wait_until(caught_up, timeout_s=drain_timeout_s, what="the agents to drain", interval_s=3.0)
    drained_at = time.monotonic() - drain_started
    scored, dead, by_item_key = seen["scored"], seen["dead"], seen["by_item_key"]

    report.figures.update(
        {
            "load duration (s)": round(load_s, 1),
            "drain time (s)": round(drained_at, 1),
            "items acknowledged under load": len(acknowledged),
            "items refused by the SDK (invalid)": ledger.sdk_rejected,
            "bad items produced raw (acknowledged)": len(ledger.bad_items),
            "assignments produced": ledger.assignments,
            "valid labels acknowledged": len(ledger.valid_labels),
            "invalid labels acknowledged": len(ledger.bad_labels),
            "scores on the scores topic (distinct items)": len(scored),
            "dead letters": len(dead),
            "hostile records acknowledged": len(ledger.hostile),
            "release requests": ledger.release_requests,
            "process (re)starts": ", ".join(f"{n}={a.starts}" for n, a in agents.items()),
        }
    )
    _check_hostile(settings, ledger, dead, scored, report)
    if watcher is not None:
        _check_processes(watcher, report)
    _recoveries(settings, ledger, watcher, pauses or [], report)

    for item_id in sorted(acknowledged - scored):
        report.lose("acknowledged item without a score", item_id)
    for key in sorted(set(ledger.bad_items) & scored):
        report.lose("bad item was scored", key)
    unacknowledged = sorted(scored - acknowledged)  # an item whose acknowledgement the SDK lost, or junk
    report.figures["scored items the ledger never saw acknowledged"] = (
        f"{len(unacknowledged)} {unacknowledged[:5]}" if unacknowledged else 0
    )
    for item_id in unacknowledged:
        if item_id.startswith("hostile-"):
            report.lose("hostile item was scored", item_id)
    if ledger.sdk_rejected != ledger.sdk_invalid_sent:
        report.lose(
            "SDK let an invalid item through",
            f"{ledger.sdk_invalid_sent} invalid, {ledger.sdk_rejected} refused",
        )

    for key, kind in sorted(ledger.bad_items.items()):
        found = by_item_key.get(key)
        if found is None:
            report.lose("bad item not in dead letters", f"{key} ({kind})")
        elif not (found[1].get("class") and found[1].get("message") and found[1].get("agent") == "scorer"):
            report.lose("dead letter without its reason", key)

    labels_codec = SingleObjectCodec("labels")
    # Several agents read labels (labels, router, agreement): each may dead-letter what it cannot read.
    # The labels agent is the one that must have rejected every invalid label, with its reason.
    by_label_position: dict[str, list[tuple[dict[str, Any], dict[str, str]]]] = defaultdict(list)
    for r, h in dead:
        if r["source_topic"] == labels_topic:
            by_label_position[f"{r['source_partition']}:{r['source_offset']}"].append((r, h))
    report.figures["dead letters by agent"] = dict(Counter(h.get("agent") for _, h in dead))
    for position, what in sorted(ledger.bad_labels.items()):
        from_labels = [h for _, h in by_label_position.get(position, []) if h.get("agent") == "labels"]
        if not from_labels:
            report.lose("invalid label not dead-lettered by the labels agent", what)
        elif not all(h.get("class") and h.get("message") for h in from_labels):
            report.lose("dead letter without its reason", what)
    for record, _ in (found for group in by_label_position.values() for found in group):
        try:
            label_id = labels_codec.decode(record["original_value"])["label_id"]
        except (DecodeError, TypeError):
            continue
        if label_id in ledger.valid_labels:
            report.lose("valid label dead-lettered", label_id)

    candidates = [r["item_id"] for r in records_of(settings, "candidates")]
    for item_id in candidates:
        if item_id not in scored:
            report.lose("candidate that was never scored", item_id)
    report.figures["candidates"] = len(candidates)

    ids_per_pair: dict[tuple[str, str], set[str]] = defaultdict(set)
    hard_per_day: dict[tuple[str, str], set[str]] = defaultdict(set)
    routed: list[dict[str, Any]] = []
    for record in records_of(settings, "assignments"):
        ids_per_pair[(record["annotator_id"], record["item_id"])].add(record["assignment_id"])
        if not record["annotator_id"].startswith("synthetic-"):
            routed.append(record)
            if record["kind"] == "HARD":
                hard_per_day[(record["annotator_id"], record["assigned_at"].date().isoformat())].add(
                    record["assignment_id"]
                )
    for pair, ids in sorted(ids_per_pair.items()):
        if len(ids) > 1:  # a re-sent assignment keeps its id; a second id is a second assignment
            report.lose("item assigned twice to one annotator", f"{pair}: {sorted(ids)}")
    if router_metrics_port is not None:
        report.figures["assignments by the router (distinct)"] = len({r["assignment_id"] for r in routed})
        report.figures["assignments received by annotators"] = ledger.assignments_received
        report.figures["labels by annotators (acknowledged)"] = ledger.annotator_labels
        report.figures["max HARD per annotator-day (quota)"] = (
            f"{max((len(v) for v in hard_per_day.values()), default=0)} ({max_hard_per_day})"
        )
        for (annotator, day), ids in sorted(hard_per_day.items()):
            if len(ids) > max_hard_per_day:
                report.lose(
                    "annotator above the hard quota", f"{annotator} {day}: {len(ids)} > {max_hard_per_day}"
                )
        _check_pool(settings, set(candidates), report)

    _check_release(settings, ledger, report)
    models = [r for r in records_of(settings, "models") if not r["model_version"].startswith("hostile-")]
    report.figures["models announced by the trainer"] = len(models)
    _check_tools(settings, report)
    return report


def _check_tools(settings: AlstreamSettings, report: Report) -> None:
    """The operator's commands read topics the hostile set also hit (router-status, dead-letters): each
    must still answer, with exit code 0."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    alstream = str(Path(sys.executable).with_name("alstream"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALSTREAM_", "KAFKA_"))}
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers or "",
            "ALSTREAM_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
            "ALSTREAM_TASK__CLASSES": json.dumps(settings.task.classes),
            "ALSTREAM_INGEST__EMBEDDING_DIM": str(settings.ingest.embedding_dim),
        }
    )
    for args in (["status", "--json"], ["dead-letters", "list", "--json", "--limit", "5"]):
        done = subprocess.run([alstream, *args], env=env, capture_output=True, text=True, timeout=180)
        if done.returncode != 0:
            report.lose(
                "operator command failed on hostile records",
                f"alstream {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-300:]}",
            )
    report.figures["operator commands (status, dead-letters list)"] = "answered"


def _router_table(settings: AlstreamSettings) -> dict[str, Any]:
    """The router's tables as its state topic holds them (partition *p* is shard *p*'s changelog):
    key -> latest value (None: deleted)."""
    messages: list[Any] = []
    read_to_end(
        settings, [settings.kafka.topic(STATE_TOPIC)], messages.extend, agent="checker", patience_s=60
    )
    table: dict[str, Any] = {}
    for message in sorted(messages, key=lambda m: (m.partition(), m.offset())):
        if message.key():
            raw = message.value()
            table[message.key().decode()] = decode_value(raw) if raw else None
    return table


def _check_pool(
    settings: AlstreamSettings, candidates: set[str], report: Report, *, settle_timeout_s: float = 90.0
) -> None:
    """Every candidate, by item id, is assigned (on the assignments topic) or pooled (a ``c|shard|item``
    entry of the router's table, read from its state topic). A router restarted late may still be
    assigning when the drain ends, so both are re-read until they cover every candidate or the deadline
    passes."""
    seen: dict[str, set[str]] = {}

    def covered() -> bool:
        records = records_of(settings, "assignments")
        seen["assigned"] = {r["item_id"] for r in records if not r["annotator_id"].startswith("synthetic-")}
        seen["pooled"] = {
            key.split("|", 2)[2]
            for key, value in _router_table(settings).items()
            if key.startswith("c|") and value
        }
        seen["missing"] = candidates - seen["assigned"] - seen["pooled"]
        return not seen["missing"]

    # On expiry the candidates still missing are reported one by one below: that is the failure.
    with contextlib.suppress(AssertionError):
        wait_until(
            covered, timeout_s=settle_timeout_s, what="every candidate assigned or pooled", interval_s=3.0
        )
    assigned, pooled, missing = seen["assigned"], seen["pooled"], seen["missing"]
    report.figures["candidates assigned / pooled / neither"] = (
        f"{len(candidates & assigned)} / {len((candidates - assigned) & pooled)} / {len(missing)}"
    )
    for item_id in sorted(missing):
        report.lose("candidate neither assigned nor pooled", item_id)


def _dead_letter_positions(
    dead: list[tuple[dict[str, Any], dict[str, str]]],
) -> dict[tuple[str, str], dict[str, str]]:
    """("topic:partition:offset", agent) -> the dead letter's error headers."""
    return {
        (f"{r['source_topic']}:{r['source_partition']}:{r['source_offset']}", h.get("agent", "")): h
        for r, h in dead
    }


def _superseded(settings: AlstreamSettings) -> set[str]:
    """Positions of model announcements followed by a later one of the same model (same key, same
    partition): the scorer loads only the latest, so it never judges the earlier ones."""
    last: dict[tuple[int, bytes | None], int] = {}
    messages = dump(settings, "models")
    for message in messages:
        last[(message.partition(), message.key())] = max(
            message.offset(), last.get((message.partition(), message.key()), -1)
        )
    return {
        f"{m.topic()}:{m.partition()}:{m.offset()}"
        for m in messages
        if m.offset() < last[(m.partition(), m.key())]
    }


def _check_hostile(
    settings: AlstreamSettings, ledger: Any, dead: list[Any], scored: set[str], report: Report
) -> None:
    """Each acknowledged hostile record dead-lettered, at its coordinates, by the agent that owns its
    topic, with its reason (a model announcement superseded before the scorer read it excepted)."""
    at = _dead_letter_positions(dead)
    letters = {
        (f"{r['source_topic']}:{r['source_partition']}:{r['source_offset']}", h.get("agent", "")): r
        for r, h in dead
    }
    superseded = _superseded(settings)
    calibration_ids = {
        r["calibration_id"]
        for r in records_of(settings, "assignments", keep_hostile=True)
        if r["calibration_id"]
    }
    excused = 0
    for position, record in sorted(ledger.hostile.items()):
        headers = at.get((position, record.agent))
        what = f"{record.topic} / {record.kind} at {position}"
        if record.outcome == "survived":
            continue  # its readers are run after the drain (_check_tools)
        if record.outcome == "never assigned":
            if record.reference in calibration_ids:
                report.lose("forged calibration round assigned", what)
        elif headers is None and record.topic == "models" and position in superseded:
            excused += 1
        elif headers is None:
            report.lose("hostile record not dead-lettered by its agent", f"{what} (expected {record.agent})")
        elif not (headers.get("class") and headers.get("message")):
            report.lose("dead letter without its reason", what)
        elif record.kind == "above the size limit":
            _check_truncated(letters.get((position, record.agent)), record, what, report)
        if record.topic == "items" and record.key and record.key.decode(errors="replace") in scored:
            report.lose("hostile item was scored", what)
    report.figures["hostile records by topic"] = dict(
        Counter(record.topic for record in ledger.hostile.values())
    )
    report.figures["hostile model announcements superseded unread"] = excused


def _check_truncated(letter: dict[str, Any] | None, record: Any, what: str, report: Report) -> None:
    """A dead letter of a record above the producer's limit carries a prefix, the size and the SHA-256
    of the original (enough to fetch and verify it at its coordinates)."""
    import hashlib

    truncation = (letter or {}).get("truncation")
    value = record.value or b""
    if not truncation:
        report.lose("oversized record's dead letter not truncated", what)
    elif (
        truncation["value_size"] != len(value)
        or truncation["value_sha256"] != hashlib.sha256(value).hexdigest()
    ):
        report.lose("oversized record's dead letter names the wrong size or digest", what)
    elif not value.startswith(letter["original_value"] or b"\x00"):  # type: ignore[index]
        report.lose("oversized record's dead letter does not carry a prefix of it", what)


def _check_processes(watcher: Any, report: Report) -> None:
    report.figures["unexpected exits (restarted by the watcher)"] = dict(watcher.unexpected_exits) or 0
    loops = watcher.crash_loops()
    report.figures["crash-loops"] = len(loops)
    for name, exits in sorted(loops.items()):
        report.lose("crash-loop", f"{name} exited {exits} times on its own")
    for detail in watcher.exit_details[:10]:
        report.errors.append(f"unexpected exit: {detail}")


def _recoveries(
    settings: AlstreamSettings, ledger: Any, watcher: Any, pauses: list[tuple[float, float]], report: Report
) -> None:
    """Longest recovery per fault kind: a restart to its ready line; a pause to the first score of an
    item sent after SIGCONT (from the scores' broker timestamps)."""
    longest: dict[str, float] = {}
    if watcher is not None:
        for name, seconds in watcher.recoveries:
            kind = f"restart of {name.split('-')[0]}"
            longest[kind] = max(longest.get(kind, 0.0), seconds)
    if pauses:
        first_score: dict[str, float] = {}
        for message in dump(settings, "scores"):
            if message.key():
                first_score.setdefault(message.key().decode(), message.timestamp()[1] / 1000)
        for frozen_at, thawed_at in pauses:
            after = [
                first_score[item] - thawed_at
                for item, sent in ledger.item_sent_at.items()
                if sent >= thawed_at and item in first_score
            ]
            kind = f"broker pause of {thawed_at - frozen_at:.0f} s"
            if after:
                longest[kind] = max(longest.get(kind, 0.0), min(after))
            else:
                report.errors.append(f"no item sent after the {kind} was scored")
    report.recoveries = longest
    if longest:
        worst = max(longest, key=longest.__getitem__)
        report.figures["longest recovery"] = f"{longest[worst]:.1f} s ({worst})"


def _annotate_labels(settings: AlstreamSettings, dead: list[Any]) -> set[str]:
    """Label ids the ``alstream annotate`` processes (annotators ``annot-*``) put on the labels topic,
    less any the labels agent refused."""
    codec = SingleObjectCodec("labels")
    refused = {
        (r["source_partition"], r["source_offset"])
        for r, h in dead
        if r["source_topic"] == settings.kafka.topic("labels") and h.get("agent") == "labels"
    }
    found = set()
    for message in dump(settings, "labels"):
        if (message.partition(), message.offset()) in refused or not message.value():
            continue
        try:
            record = codec.decode(message.value())
        except DecodeError:
            continue
        if record["annotator_id"].startswith("annot-"):
            found.add(record["label_id"])
    return found


def _check_release(settings: AlstreamSettings, ledger: Any, report: Report) -> None:
    from alstream.agents.release.builder import LABELS_FILE
    from alstream.agents.release.service import build_and_announce

    # The `alstream annotate` processes are still labeling while the checker runs: a label they send
    # after a build is in the next one. So build until every label they had sent (less those the
    # labels agent refused, e.g. late ones) is in; on expiry the missing ones are reported below.
    seen: dict[str, Any] = {}

    def covers_the_clients() -> bool:
        seen["from_clients"] = _annotate_labels(settings, _dead_letters(settings))
        outcome = build_and_announce(settings, cutoff=datetime.now(UTC), announce=False)
        table = pq.read_table(io.BytesIO(outcome.release.files[LABELS_FILE]))
        seen["label_ids"] = table.column("label_id").to_pylist()
        return seen["from_clients"] <= set(seen["label_ids"])

    with contextlib.suppress(AssertionError):
        wait_until(
            covers_the_clients, timeout_s=90, what="the annotation clients' labels released", interval_s=3.0
        )
    label_ids, from_clients = seen["label_ids"], seen["from_clients"]
    released = set(label_ids)
    report.figures["labels in the release"] = len(released)
    for label_id, times in Counter(label_ids).items():
        if times > 1:
            report.lose("label in the release more than once", f"{label_id} x{times}")
    report.figures["labels by `alstream annotate` processes"] = len(from_clients)
    for label_id in sorted(from_clients - released):
        report.lose("annotation client's label missing from the release", label_id)
    for label_id in sorted(ledger.valid_labels - released):
        report.lose("valid label missing from the release", label_id)
    invalid_ids = {what.split(":", 1)[1] for what in ledger.bad_labels.values()}
    for label_id in sorted(released & invalid_ids):
        report.lose("invalid label in the release", label_id)
