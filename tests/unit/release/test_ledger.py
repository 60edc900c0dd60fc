"""The release ledger: the streaming build reaches the in-memory compaction's verdicts, keeps each
label's decision until its assignment or the rules change, stores records once however often they are
read, and decodes a candidate only when a label needs its embedding."""

from __future__ import annotations

import io
import random
from datetime import timedelta
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from alstream.agents.release.builder import (
    ITEMS_FILE,
    LABELS_FILE,
    ReleaseInputs,
    build_from_ledger,
    build_release,
)
from alstream.agents.release.compaction import compact, default_rules
from alstream.agents.release.ledger import Ledger, from_ms, ledger_from_records
from alstream.contracts.labels import LabelRules
from alstream.contracts.times import to_ms
from alstream.settings import load_settings
from alstream.streams.codecs import codec_for
from tests.support.records import CLASSES, T0, assignment, candidate, label

CUTOFF = T0 + timedelta(days=2)


def random_history(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Labels and assignments with every case compaction distinguishes: duplicates, superseded
    answers, skips, unknown and re-sent assignments, late labels, labels after the cut-off."""
    rng = random.Random(seed)
    assignments, labels = [], []
    for n in range(120):
        item = f"it{rng.randrange(40)}"
        annotator = f"ann{rng.randrange(5)}"
        a = assignment(
            f"a{n}",
            annotator_id=annotator,
            item_id=item,
            kind=rng.choice(["HARD", "NORMAL", "OVERLAP", "CALIBRATION"]),
            assigned_at=T0 + timedelta(minutes=rng.randrange(3000)),
            lease_s=rng.choice([60.0, 3600.0]),
        )
        if rng.random() > 0.05:
            assignments.append(a)
        if rng.random() < 0.1:  # re-sent, sometimes with another lease
            assignments.append(
                {**a, "lease_expires_at": a["assigned_at"] + timedelta(seconds=rng.choice([30, 7200]))}
            )
        status = rng.choice(["LABELED"] * 8 + ["SKIPPED", "CANNOT_LABEL"])
        lab = label(
            f"l{n}",
            of=a,
            status=status,
            value=rng.choice(CLASSES),
            submitted_at=a["assigned_at"] + timedelta(seconds=rng.choice([30, 600, 5000])),
        )
        labels.append(lab)
        if rng.random() < 0.1:
            labels.append(dict(lab))  # redelivered
    rng.shuffle(labels)
    return labels, assignments


@pytest.mark.parametrize("seed", range(8))
def test_streaming_build_reaches_the_in_memory_compaction(seed: int) -> None:
    labels, assignments = random_history(seed)
    rules = default_rules(CLASSES)
    oracle = compact([lab for lab in labels if lab["submitted_at"] <= CUTOFF], assignments, rules=rules)
    built = build_release(
        ReleaseInputs(labels=labels, assignments=assignments), cutoff=CUTOFF, classes=CLASSES
    )
    assert built.manifest["excluded_labels"] == oracle.excluded
    released = pq.read_table(io.BytesIO(built.files[LABELS_FILE])).to_pylist()
    assert [row["label_id"] for row in released] == [v.label_id for v in oracle.labels]
    assert [row["kind"] for row in released] == [v.kind for v in oracle.labels]
    items = pq.read_table(io.BytesIO(built.files[ITEMS_FILE])).to_pylist()
    assert [(row["item_id"], row["label"], row["kind"], row["n_labels"]) for row in items] == [
        (i.item_id, i.label, i.kind, i.n_labels) for i in oracle.items
    ]


def test_a_label_is_decided_again_when_its_assignment_is_resent() -> None:
    a = assignment("a1", assigned_at=T0, lease_s=3600)
    lab = label("l1", of=a, submitted_at=T0 + timedelta(minutes=30))
    ledger = ledger_from_records(labels=[lab], assignments=[a])
    rules = default_rules(CLASSES)
    first = build_from_ledger(ledger, cutoff=CUTOFF, rules=rules)
    assert first.manifest["label_count"] == 1
    shortened = {**a, "lease_expires_at": T0 + timedelta(minutes=5)}  # the label now came after the lease
    ledger.add("assignments", [(0, 99, shortened)])
    second = build_from_ledger(ledger, cutoff=CUTOFF, rules=rules)
    assert second.manifest["label_count"] == 0 and second.manifest["excluded_labels"] == {"LateLabel": 1}


def test_a_label_is_decided_again_when_the_rules_change() -> None:
    a = assignment("a1", classes=["cat", "dog", "emu"])
    ledger = ledger_from_records(labels=[label("l1", of=a, value="emu")], assignments=[a])
    narrow = LabelRules(task_classes=CLASSES, root_causes=())
    assert build_from_ledger(ledger, cutoff=CUTOFF, rules=narrow).manifest["excluded_labels"] == {
        "ValueNotInClasses": 1
    }
    wide = LabelRules(task_classes=[*CLASSES, "emu"], root_causes=())
    assert build_from_ledger(ledger, cutoff=CUTOFF, rules=wide).manifest["label_count"] == 1


def test_an_unknown_assignment_is_decided_once_it_arrives() -> None:
    a = assignment("a1")
    ledger = ledger_from_records(labels=[label("l1", of=a)], assignments=[])
    rules = default_rules(CLASSES)
    assert build_from_ledger(ledger, cutoff=CUTOFF, rules=rules).manifest["excluded_labels"] == {
        "UnknownAssignment": 1
    }
    ledger.add("assignments", [(0, 0, a)])
    assert build_from_ledger(ledger, cutoff=CUTOFF, rules=rules).manifest["label_count"] == 1


def test_records_read_twice_are_stored_once_and_the_cursor_only_moves_forward() -> None:
    ledger = Ledger(path=":memory:")
    a = assignment("a1")
    rows = [(0, 5, label("l1", of=a)), (1, 7, label("l2", of=a))]
    assert ledger.add("labels", rows, ends={0: 6, 1: 8}) == 2
    assert ledger.add("labels", rows, ends={0: 3}) == 0  # a replayed batch after a crash
    assert ledger.counts()["labels"] == 2
    assert ledger.cursor("labels") == {0: 6, 1: 8}


def test_a_candidate_is_decoded_only_when_its_item_needs_it() -> None:
    codec = codec_for("candidates", load_settings(environ={}))
    ledger = Ledger(path=":memory:", candidate_codec=codec)
    vector = np.arange(64, dtype="<f4").tobytes()
    good = codec.encode(candidate("it1", selected_at=T0, embedding=vector))
    liar = codec.encode(candidate("it9", selected_at=T0, embedding=vector))  # keyed as it2: not its item
    later = codec.encode(candidate("it1", selected_at=CUTOFF + timedelta(days=1), embedding=b"\0" * 256))
    ledger.add(
        "candidates",
        [
            (0, 0, {"__raw__": good, "__key__": "it1"}),
            (0, 1, {"__raw__": liar, "__key__": "it2"}),
            (0, 2, {"__raw__": later, "__key__": "it1"}),
            (0, 3, {"__raw__": b"not avro", "__key__": "it3"}),
        ],
    )
    states = dict(ledger.db.execute("SELECT off, state FROM candidates").fetchall())
    assert set(states.values()) == {0}  # nothing decoded at sync
    assert ledger.embedding("it1", to_ms(CUTOFF)) == vector  # the later one is after the cut-off
    assert ledger.embedding("it2", to_ms(CUTOFF)) is None
    assert ledger.embedding("it3", to_ms(CUTOFF)) is None
    assert dict(ledger.db.execute("SELECT off, state FROM candidates").fetchall()) == {0: 1, 1: 2, 2: 1, 3: 2}


def test_epoch_milliseconds_round_trip_exactly() -> None:
    for ms in (0, 1, 1_795_000_000_123, 253_402_300_799_999):
        assert to_ms(from_ms(ms)) == ms


def test_only_old_build_scratch_directories_are_removed(tmp_path: Any) -> None:
    import os

    from alstream.agents.release.spool import SpooledFiles, remove_stale

    old = SpooledFiles(str(tmp_path))
    os.utime(old.dir, (0, 0))
    (tmp_path / "alstream-full-build-x").mkdir()
    os.utime(tmp_path / "alstream-full-build-x", (0, 0))
    running = SpooledFiles(str(tmp_path))  # a build in progress elsewhere
    (tmp_path / "releases").mkdir()
    os.utime(tmp_path / "releases", (0, 0))
    assert remove_stale(tmp_path) == 2
    assert running.dir.exists() and (tmp_path / "releases").exists() and not old.dir.exists()


def test_a_ledger_for_one_build_keeps_only_the_candidates_a_label_needs() -> None:
    codec = codec_for("candidates", load_settings(environ={}))
    ledger = Ledger(path=":memory:", candidate_codec=codec, labeled_candidates_only=True)
    a = assignment("a1", item_id="it1")
    ledger.add("labels", [(0, 0, label("l1", of=a))])
    ledger.add(
        "candidates",
        [
            (0, n, {"__raw__": codec.encode(candidate(item)), "__key__": item})
            for n, item in enumerate(["it1", "it2"])
        ],
    )
    ledger.add("labels", [(0, 1, label("l2", of=assignment("a2", item_id="it3")))])
    ledger.add("candidates", [(0, 2, {"__raw__": codec.encode(candidate("it3")), "__key__": "it3"})])
    assert [row[0] for row in ledger.db.execute("SELECT item_id FROM candidates ORDER BY off")] == [
        "it1",
        "it3",
    ]


OLD_LABELS_TABLE = """
CREATE TABLE labels (
    part INTEGER NOT NULL, off INTEGER NOT NULL, label_id TEXT NOT NULL, assignment_id TEXT NOT NULL,
    item_id TEXT NOT NULL, annotator_id TEXT NOT NULL, status TEXT NOT NULL, value TEXT,
    root_cause TEXT, started_ms INTEGER NOT NULL, submitted_ms INTEGER NOT NULL,
    decision TEXT, kind TEXT, policy_version TEXT, model_version TEXT, assigned_ms INTEGER,
    PRIMARY KEY (part, off));
"""


def test_a_ledger_written_before_duplicate_flags_gets_them(tmp_path: Any) -> None:
    """A ledger file from before labels carried their duplicate flag and change number is migrated
    when opened: its repeated labels are flagged, and its next build counts them as duplicates."""
    import sqlite3

    path = tmp_path / "release-ledger.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(OLD_LABELS_TABLE)
    a = assignment("a1")
    first, again = label("l1", of=a), label("l1", of=a)
    for off, record in enumerate([first, again]):
        old.execute(
            "INSERT INTO labels VALUES (0, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, NULL, NULL, NULL, NULL, NULL)",
            (
                off,
                record["label_id"],
                record["assignment_id"],
                record["item_id"],
                record["annotator_id"],
                record["status"],
                record["value"],
                to_ms(record["started_at"]),
                to_ms(record["submitted_at"]),
            ),
        )
    old.commit()
    old.close()
    ledger = Ledger(path=path)
    assert ledger.db.execute("SELECT off, dup FROM labels ORDER BY off").fetchall() == [(0, 0), (1, 1)]
    ledger.add("assignments", [(0, 0, a)])
    built = build_from_ledger(ledger, cutoff=CUTOFF, rules=default_rules(CLASSES))
    assert built.manifest["label_count"] == 1
    assert built.manifest["excluded_labels"] == {"duplicate": 1}
    ledger.close()
