"""Which ledger labels vote, decided on disk: the streaming form of :func:`compaction.valid_labels`.

The same rules in the same order as the in-memory compaction (a repeated ``label_id`` is a
``duplicate``; the label contract's verdict; only ``LABELED`` answers vote; an annotator's latest answer
per item supersedes the earlier ones), but the sets that need all history (ids seen, latest answer per
item and annotator) are SQLite window functions over a temporary table, so memory does not grow with
the number of labels.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator

from alstream.agents.release.compaction import ValidLabel
from alstream.agents.release.ledger import Ledger, from_ms
from alstream.contracts.enums import ANSWERED
from alstream.contracts.labels import LabelRules

BATCH = 10_000


class VerdictTable:
    """One build's verdicts, in a temporary table of the ledger's connection (dropped by :meth:`drop`)."""

    def __init__(self, ledger: Ledger, *, rules: LabelRules) -> None:
        self.ledger = ledger
        self.rules = rules
        self.table = f"temp.voting_{uuid.uuid4().hex}"
        self.excluded: dict[str, int] = {}

    def fill(self, cutoff_ms: int) -> None:
        db = self.ledger.db
        db.execute(
            f"CREATE TABLE {self.table} (seq INTEGER PRIMARY KEY, label_id TEXT, item_id TEXT, "
            "annotator_id TEXT, value TEXT, kind TEXT, policy_version TEXT, model_version TEXT, "
            "assigned_ms INTEGER, submitted_ms INTEGER, root_cause TEXT)"
        )
        excluded: Counter[str] = Counter()
        rows: list[tuple[object, ...]] = []
        insert = f"INSERT INTO {self.table} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        seq = 0
        for label, assignment, first in self.ledger.labels_up_to(cutoff_ms):
            if not first:
                excluded["duplicate"] += 1
                continue
            violation = self.rules.verdict(label, assignment)
            if violation is not None:
                excluded[violation.reason] += 1
                continue
            assert assignment is not None
            if label["status"] != ANSWERED:
                excluded[f"status_{str(label['status']).lower()}"] += 1
                continue
            seq += 1
            rows.append(
                (
                    seq,
                    label["label_id"],
                    label["item_id"],
                    label["annotator_id"],
                    label["value"],
                    assignment["kind"],
                    assignment["policy_version"],
                    assignment["model_version"],
                    assignment["assigned_ms"],
                    label["submitted_ms"],
                    label.get("root_cause"),
                )
            )
            if len(rows) >= BATCH:
                db.executemany(insert, rows)
                rows = []
        if rows:
            db.executemany(insert, rows)
        total, distinct = db.execute(
            f"SELECT count(*), (SELECT count(*) FROM (SELECT DISTINCT item_id, annotator_id "
            f"FROM {self.table})) FROM {self.table}"
        ).fetchone()
        if total > distinct:
            excluded["superseded"] += total - distinct
        self.excluded = dict(sorted(excluded.items()))

    def voting(self) -> Iterator[ValidLabel]:
        """The latest answer per (item, annotator), ordered by item, annotator, label id."""
        rows = self.ledger.db.execute(
            "SELECT label_id, item_id, annotator_id, value, kind, policy_version, model_version, "
            "assigned_ms, submitted_ms, root_cause FROM (SELECT *, ROW_NUMBER() OVER ("
            f"PARTITION BY item_id, annotator_id ORDER BY seq DESC) AS latest FROM {self.table}) "
            "WHERE latest = 1 ORDER BY item_id, annotator_id, label_id"
        )
        while batch := rows.fetchmany(BATCH):
            for row in batch:
                yield ValidLabel(
                    label_id=row[0],
                    item_id=row[1],
                    annotator_id=row[2],
                    value=row[3],
                    kind=row[4],
                    policy_version=row[5],
                    model_version=row[6],
                    assigned_at=from_ms(row[7]),
                    submitted_at=from_ms(row[8]),
                    root_cause=row[9],
                )

    def drop(self) -> None:
        self.ledger.db.execute(f"DROP TABLE IF EXISTS {self.table}")
