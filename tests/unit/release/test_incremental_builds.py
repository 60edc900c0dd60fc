"""A release built from its parent (only the changed items recomputed) is the same bytes as one built
from scratch, week after week of hostile history: redeliveries, late labels and assignments, copies of
a label id on other items, superseding answers, re-selected and undecodable candidates, a changed
agreement threshold."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alstream.agents.release.builder import BuiltRelease, build_from_ledger
from alstream.agents.release.compaction import default_rules
from alstream.agents.release.ledger import KEY, RAW, Ledger
from alstream.agents.release.storage import ReleaseStore
from alstream.settings import load_settings
from alstream.streams.codecs import codec_for
from tests.support.records import CLASSES, T0, assignment, candidate, label

WEEK = timedelta(days=7)
CODEC = codec_for("candidates", load_settings(environ={}))


class History:
    """Records as three topics would hold them (partition, offset), produced week by week."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.topics: dict[str, list[tuple[int, int, dict[str, Any]]]] = {
            "labels": [],
            "assignments": [],
            "candidates": [],
        }
        self.offsets: dict[tuple[str, int], int] = {}
        self.assignments: list[dict[str, Any]] = []
        self.labels: list[dict[str, Any]] = []

    def send(self, topic: str, record: dict[str, Any]) -> None:
        part = self.rng.randrange(2)
        offset = self.offsets.get((topic, part), 0)
        self.offsets[(topic, part)] = offset + 1
        self.topics[topic].append((part, offset, record))

    def candidate(self, item: str, at: Any) -> None:
        rng = self.rng
        if rng.random() < 0.05:
            raw = b"not avro"
        else:
            emb = np.full(64, rng.random(), dtype="<f4").tobytes()
            raw = CODEC.encode(candidate(item, selected_at=at, embedding=emb))
        self.send("candidates", {RAW: raw, KEY: item})

    def week(self, start: Any) -> None:
        rng = self.rng
        for _ in range(40):
            item = f"it{rng.randrange(300)}"
            at = start + timedelta(minutes=rng.randrange(7 * 24 * 60))
            if rng.random() < 0.4:
                self.candidate(item, at - timedelta(minutes=5))
            a = assignment(
                f"a{len(self.assignments)}",
                annotator_id=f"ann{rng.randrange(4)}",
                item_id=item,
                kind=rng.choice(["HARD", "NORMAL", "OVERLAP", "RANDOM"]),
                assigned_at=at,
            )
            self.assignments.append(a)
            if rng.random() > 0.1:  # some come late, or never
                self.send("assignments", a)
            lab = label(
                f"l{len(self.labels)}",
                of=a,
                status=rng.choice(["LABELED"] * 8 + ["SKIPPED"]),
                value=rng.choice(CLASSES),
                submitted_at=at + timedelta(seconds=rng.choice([20, 600, 4000])),
            )
            self.labels.append(lab)
            self.send("labels", lab)
        for _ in range(4):  # what at-least-once delivery and late clients add
            kind = rng.randrange(5)
            if kind == 0 and self.labels:
                self.send("labels", dict(rng.choice(self.labels)))  # redelivered
            elif kind == 1 and self.assignments:
                self.send("assignments", rng.choice(self.assignments))  # late or re-sent
            elif kind == 2 and self.labels:
                copy = dict(rng.choice(self.labels))  # the same label id, on another item
                copy["item_id"] = f"it{rng.randrange(300)}"
                copy["submitted_at"] -= timedelta(seconds=rng.choice([-30, 30]))
                self.send("labels", copy)
            elif kind == 3:
                self.candidate(f"it{rng.randrange(300)}", start - rng.choice([timedelta(0), WEEK]))
            elif self.labels:
                old = rng.choice(self.labels)  # submitted long ago, delivered only now
                a = next(x for x in self.assignments if x["assignment_id"] == old["assignment_id"])
                self.send("labels", label(f"late{len(self.labels)}", of=a, value=rng.choice(CLASSES)))


def fresh_ledger(history: History) -> Ledger:
    ledger = Ledger(path=":memory:", candidate_codec=CODEC)
    for topic, rows in history.topics.items():
        ledger.add(topic, rows)
    return ledger


def build(
    ledger: Ledger, store: ReleaseStore, cutoff: Any, min_agreement: float, *, from_parent: bool = True
) -> BuiltRelease:
    """The release at ``cutoff`` whose parent is the store's latest before it; ``from_parent``: the
    build may start from the parent's files (the agent's), else it recomputes every item."""
    return build_from_ledger(
        ledger,
        cutoff=cutoff,
        classes=CLASSES,
        rules=default_rules(CLASSES),
        min_agreement=min_agreement,
        qa_gold={f"it{n}": CLASSES[n % 3] for n in range(0, 300, 7)},
        parent=store.latest_before(cutoff.strftime("%Y-%m-%dT%H:%M:%S.000Z")),
        parent_store=store if from_parent else None,
    )


@pytest.mark.parametrize("seed", range(6))
def test_a_release_built_from_its_parent_is_the_release_built_from_scratch(seed: int, tmp_path: Path) -> None:
    history = History(seed)
    store = ReleaseStore(root=tmp_path / "releases")
    ledger = Ledger(path=tmp_path / "ledger.sqlite3", candidate_codec=CODEC)
    synced = dict.fromkeys(history.topics, 0)
    started_from: list[int] = []
    for n in range(6):
        history.week(T0 + n * WEEK)
        for topic, rows in history.topics.items():  # the agent's ledger reads what arrived since
            ledger.add(topic, rows[synced[topic] :])
            synced[topic] = len(rows)
        # a day of the week's labels, already read, is after the cut-off: the next build's
        cutoff = T0 + (n + 1) * WEEK - timedelta(days=1, hours=n)
        min_agreement = 0.5 if n == 4 else 0.67  # the lead changes the threshold for one week
        incremental = build(ledger, store, cutoff, min_agreement)
        store.write(incremental.release_id, incremental.files)
        scratch = fresh_ledger(history)
        try:
            full = build(scratch, store, cutoff, min_agreement, from_parent=False)
        finally:
            scratch.close()
        assert full.manifest == incremental.manifest
        assert dict(full.files) == dict(incremental.files)
        if incremental.started_from is not None:
            started_from.append(n)
            assert incremental.started_from == incremental.manifest["parent_release_id"]
        if n == 3:  # a month in, a week's changes are a part of the release
            assert incremental.recomputed_items < incremental.manifest["item_count"]
    ledger.close()
    # The first build has no parent; the week with another threshold, and the week after it (its
    # parent was built under that threshold), recompute every item.
    assert started_from == [1, 2, 3]


def test_a_parent_whose_files_were_altered_is_not_trusted(tmp_path: Path) -> None:
    history = History(7)
    store = ReleaseStore(root=tmp_path / "releases")
    ledger = Ledger(path=":memory:", candidate_codec=CODEC)
    history.week(T0)
    for topic, rows in history.topics.items():
        ledger.add(topic, rows)
    first = build(ledger, store, T0 + WEEK, 0.67)
    store.write(first.release_id, first.files)
    items = Path(store.path_of(first.release_id)) / "items.parquet"
    items.write_bytes(items.read_bytes()[:-100] + b"\0" * 100)
    second = build(ledger, store, T0 + WEEK + timedelta(hours=1), 0.67)
    assert second.started_from is None
    assert second.recomputed_items == first.recomputed_items
