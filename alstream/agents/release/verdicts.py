"""Which ledger labels vote, decided on disk: the streaming form of :func:`compaction.valid_labels`.

The same rules in the same order as the in-memory compaction (a repeated ``label_id`` is a
``duplicate``; the label contract's verdict; only ``LABELED`` answers vote; an annotator's latest answer
per item supersedes the earlier ones), but the verdicts are the ledger's (reached once per label, see
:meth:`Ledger.decide`), the duplicate flag is stored with each record (:meth:`Ledger.add`), and the
latest answer per item and annotator is a SQLite window function, so memory does not grow with the
number of labels and a build runs the contract only on the labels that arrived since the last one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from alstream.agents.release.compaction import ValidLabel
from alstream.agents.release.ledger import BATCH, Ledger, from_ms
from alstream.contracts.enums import ANSWERED

VOTES = f"dup = 0 AND decision = '' AND status = '{ANSWERED}'"


def excluded_counts(ledger: Ledger, cutoff_ms: int) -> tuple[dict[str, int], int]:
    """(label counts by why they do not vote, the number of voting records) up to the cut-off.

    ``superseded`` is not among the reasons: it is the voting records less the (item, annotator) pairs
    a release keeps, which the caller knows once the release is written."""
    excluded: Counter[str] = Counter()
    voting = 0
    rows = ledger.db.execute(
        f"SELECT CASE WHEN {VOTES} THEN NULL WHEN dup THEN 'duplicate' "
        "WHEN decision IS NULL THEN 'UnknownAssignment' "
        "WHEN decision = '' THEN 'status_' || lower(status) ELSE decision END AS why, count(*) "
        "FROM labels WHERE submitted_ms <= ? GROUP BY why",
        (cutoff_ms,),
    )
    for why, n in rows:
        if why is None:
            voting = n
        else:
            excluded[why] += n
    return dict(excluded), voting


def voting_items(ledger: Ledger, items_table: str, cutoff_ms: int) -> None:
    """Fill ``items_table`` with every item that has a voting label up to the cut-off."""
    ledger.db.execute(
        f"INSERT OR IGNORE INTO {items_table} SELECT DISTINCT item_id FROM labels "
        f"WHERE submitted_ms <= ? AND {VOTES}",
        (cutoff_ms,),
    )


def voting_labels(ledger: Ledger, items_table: str, cutoff_ms: int) -> Iterator[ValidLabel]:
    """The latest answer per (item, annotator) of the items in ``items_table``, ordered by item,
    annotator, label id."""
    rows = ledger.db.execute(
        "SELECT label_id, item_id, annotator_id, value, kind, policy_version, model_version, "
        "assigned_ms, submitted_ms, root_cause FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY item_id, "
        "annotator_id ORDER BY submitted_ms DESC, label_id DESC, part DESC, off DESC) AS latest "
        f"FROM labels WHERE submitted_ms <= ? AND {VOTES} "
        f"AND item_id IN (SELECT item_id FROM {items_table})) "
        "WHERE latest = 1 ORDER BY item_id, annotator_id, label_id",
        (cutoff_ms,),
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
