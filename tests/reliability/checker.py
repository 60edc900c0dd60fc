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

With the router in the campaign (and annotators using the annotation SDK) also:

* no annotator above the hard-item quota per day, across router restarts;
* every candidate is assigned or still in the pool (unassigned candidates <= the router's pool depth).
"""

from __future__ import annotations

import io
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow.parquet as pq
from topic_dump import dump  # type: ignore[import-not-found]

from alstream.demo.scrape import scrape, total
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.dead_letters import error_headers
from alstream.streams.exceptions import DecodeError


@dataclass
class Report:
    figures: dict[str, Any] = field(default_factory=dict)
    faults: Counter = field(default_factory=Counter)
    losses: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)

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
        lines += [f"  error: {e}" for e in self.errors]
        return "\n".join(lines)


def _scores(settings: AlstreamSettings) -> set[str]:
    return {m.key().decode() for m in dump(settings, "scores") if m.key()}


def _dead_letters(settings: AlstreamSettings) -> list[tuple[dict[str, Any], dict[str, str]]]:
    codec = SingleObjectCodec("dead-letters")
    return [(codec.decode(m.value()), error_headers(m.headers())) for m in dump(settings, "dead-letters")]


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
) -> Report:
    report = Report(faults=Counter(faults.counts), errors=list(errors))
    acknowledged = ledger.acknowledged_items
    items_topic, labels_topic = settings.kafka.topic("items"), settings.kafka.topic("labels")

    # Drain: wait until the agents caught up (or the deadline passed), re-reading the outputs.
    deadline = time.monotonic() + drain_timeout_s
    drained_at = None
    while True:
        scored = _scores(settings)
        dead = _dead_letters(settings)
        by_item_key = {
            (r["original_key"] or b"").decode(errors="replace"): (r, h)
            for r, h in dead
            if r["source_topic"] == items_topic
        }
        dead_labels = {
            f"{r['source_partition']}:{r['source_offset']}"
            for r, h in dead
            if r["source_topic"] == labels_topic and h.get("agent") == "labels"
        }
        caught_up = (
            acknowledged <= scored
            and set(ledger.bad_items) <= by_item_key.keys()
            and set(ledger.bad_labels) <= dead_labels
        )
        if caught_up or time.monotonic() > deadline:
            drained_at = time.monotonic() - (deadline - drain_timeout_s)
            break
        time.sleep(3)

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
            "agent (re)starts": ", ".join(f"{n}={a.starts}" for n, a in agents.items()),
        }
    )

    for item_id in sorted(acknowledged - scored):
        report.lose("acknowledged item without a score", item_id)
    for key in sorted(set(ledger.bad_items) & scored):
        report.lose("bad item was scored", key)
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

    candidates_codec = SingleObjectCodec("candidates")
    candidates = [candidates_codec.decode(m.value())["item_id"] for m in dump(settings, "candidates")]
    for item_id in candidates:
        if item_id not in scored:
            report.lose("candidate that was never scored", item_id)
    report.figures["candidates"] = len(candidates)

    assignments = SingleObjectCodec("assignments")
    ids_per_pair: dict[tuple[str, str], set[str]] = defaultdict(set)
    hard_per_day: dict[tuple[str, str], set[str]] = defaultdict(set)
    routed: list[dict[str, Any]] = []
    for message in dump(settings, "assignments"):
        record = assignments.decode(message.value())
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
        _check_pool(settings, router_metrics_port, set(candidates), report)

    _check_release(settings, ledger, report)
    return report


def _check_pool(
    settings: AlstreamSettings,
    port: int,
    candidates: set[str],
    report: Report,
    *,
    settle_timeout_s: float = 90.0,
) -> None:
    """Every candidate is assigned or still pooled: unassigned candidates must be covered by the pool depth.

    A router restarted late in the campaign may still be restoring shards or reading the last candidates
    when the drain ends, so the gauge is re-read until it covers the unassigned ones or the deadline
    passes."""
    assignments = SingleObjectCodec("assignments")
    deadline = time.monotonic() + settle_timeout_s
    while True:
        # re-read each time: the router may still be assigning
        records = (assignments.decode(m.value()) for m in dump(settings, "assignments"))
        assigned = {r["item_id"] for r in records if not r["annotator_id"].startswith("synthetic-")}
        unassigned = len(candidates - assigned)
        samples = scrape(port, timeout_s=10)  # empty if the router did not answer
        pooled = total(samples, "alstream_router_pool_depth")
        if unassigned <= pooled or time.monotonic() > deadline:
            break
        time.sleep(2)
    if not samples:
        report.errors.append(f"router metrics unreadable: no answer from 127.0.0.1:{port}/metrics")
        return
    report.figures["candidates assigned / unassigned / pool depth"] = (
        f"{len(candidates & assigned)} / {unassigned} / {pooled:g}"
    )
    if unassigned > pooled:
        report.lose(
            "candidate neither assigned nor pooled", f"{unassigned - pooled:g} of {unassigned} unassigned"
        )


def _check_release(settings: AlstreamSettings, ledger: Any, report: Report) -> None:
    from alstream.agents.release.builder import LABELS_FILE
    from alstream.agents.release.service import build_and_announce

    outcome = build_and_announce(settings, cutoff=datetime.now(UTC), announce=False)
    table = pq.read_table(io.BytesIO(outcome.release.files[LABELS_FILE]))
    released = set(table.column("label_id").to_pylist())
    report.figures["labels in the release"] = len(released)
    for label_id in sorted(ledger.valid_labels - released):
        report.lose("valid label missing from the release", label_id)
    invalid_ids = {what.split(":", 1)[1] for what in ledger.bad_labels.values()}
    for label_id in sorted(released & invalid_ids):
        report.lose("invalid label in the release", label_id)
