"""Which ledger labels vote, decided on disk: the streaming form of :func:`compaction.valid_labels`.

The same rules in the same order as the in-memory compaction (a repeated ``label_id`` is a
``duplicate``; the label contract's verdict; only ``LABELED`` answers vote; an annotator's latest answer
per item supersedes the earlier ones), but the verdicts are the ledger's (reached once per label, see
:meth:`Ledger.decide`) and the sets that need all history (ids seen, latest answer per item and
annotator) are SQLite window functions over a temporary table, so memory does not grow with the number
of labels and a build runs the contract only on the labels that arrived since the last one.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator

from alstream.agents.release.compaction import ValidLabel
from alstream.agents.release.ledger import BATCH, Ledger, from_ms
from alstream.contracts.enums import ANSWERED
from alstream.contracts.labels import LabelRules


class VerdictTable:
    """One build's verdicts, in a temporary table of the ledger's connection (dropped by :meth:`drop`)."""

    def __init__(self, ledger: Ledger, *, rules: LabelRules) -> None:
        self.ledger = ledger
        self.rules = rules
        self.table = f"temp.voting_{uuid.uuid4().hex}"
        self.excluded: dict[str, int] = {}

    def fill(self, cutoff_ms: int) -> None:
        """Decide the labels that arrived since the last build, then split every label up to the
        cut-off into voters (the temporary table) and excluded counts, in SQL."""
        self.ledger.decide(self.rules)
        db = self.ledger.db
        ranked = """
            SELECT *, ROW_NUMBER() OVER (PARTITION BY label_id ORDER BY submitted_ms, part, off) AS first,
                   ROW_NUMBER() OVER (ORDER BY submitted_ms, label_id, part, off) AS seq
            FROM labels WHERE submitted_ms <= ?
        """
        db.execute(
            f"CREATE TABLE {self.table} AS SELECT seq, label_id, item_id, annotator_id, value, kind, "
            f"policy_version, model_version, assigned_ms, submitted_ms, root_cause FROM ({ranked}) "
            f"WHERE first = 1 AND decision = '' AND status = '{ANSWERED}'",
            (cutoff_ms,),
        )
        excluded: Counter[str] = Counter()
        reasons = db.execute(
            "SELECT CASE WHEN first > 1 THEN 'duplicate' WHEN decision IS NULL THEN 'UnknownAssignment' "
            "WHEN decision = '' THEN 'status_' || lower(status) ELSE decision END AS why, count(*) "
            f"FROM ({ranked}) WHERE NOT (first = 1 AND decision IS '' AND status = '{ANSWERED}') "
            "GROUP BY why",
            (cutoff_ms,),
        )
        for why, n in reasons:
            excluded[why] += n
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
