"""The release rows of a set of items, computed from the ledger: Arrow tables in item order.

A build recomputes every item (a first or full build) or only the items whose rows may have changed
since its parent (an incremental build, :mod:`alstream.agents.release.merge`); both go through here,
so a row is the same bytes whichever build made it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from alstream.agents.release.compaction import ConsolidatedItem, ValidLabel, consolidate
from alstream.agents.release.files import ITEMS_SCHEMA, LABELS_SCHEMA, ROW_GROUP_ROWS
from alstream.agents.release.ledger import Ledger
from alstream.agents.release.verdicts import voting_labels


def usable_embedding(raw: bytes | None) -> bytes | None:
    """Little-endian float32s, or None (a candidate whose embedding is not whole floats trains nothing)."""
    return raw if raw and len(raw) % 4 == 0 else None


def embedding_column(raws: Sequence[bytes | None]) -> pa.Array:
    """list<float32> straight from the stored bytes: no Python float per value."""
    lengths = np.fromiter(
        (0 if raw is None else len(raw) // 4 for raw in raws), dtype=np.int32, count=len(raws)
    )
    offsets = np.zeros(len(raws) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = np.frombuffer(b"".join(raw for raw in raws if raw is not None), dtype="<f4")
    return pa.ListArray.from_arrays(
        pa.array(offsets), pa.array(values, type=pa.float32()), mask=pa.array([raw is None for raw in raws])
    )


def table_of(schema: pa.Schema, rows: Sequence[tuple[Any, ...]]) -> pa.Table:
    """Rows (tuples in schema order) as one Arrow table of ``schema``."""
    if not rows:
        return schema.empty_table()
    columns = []
    for field_, values in zip(schema, zip(*rows, strict=True), strict=True):
        if field_.name == "embedding":
            columns.append(embedding_column(values))
        else:
            columns.append(pa.array(values, type=field_.type))
    return pa.Table.from_arrays(columns, schema=schema)


def item_row(item: ConsolidatedItem, embedding: bytes | None) -> tuple[Any, ...]:
    return (
        item.item_id,
        item.label,
        item.needs_adjudication,
        item.adjudication_reason,
        item.n_labels,
        item.majority_share,
        json.dumps(item.votes, sort_keys=True),
        item.kind,
        item.policy_version,
        item.model_version,
        item.first_submitted_at,
        item.last_submitted_at,
        embedding,
    )


def label_row(v: ValidLabel) -> tuple[Any, ...]:
    return (
        v.label_id,
        v.item_id,
        v.annotator_id,
        v.value,
        v.kind,
        v.policy_version,
        v.model_version,
        v.submitted_at,
        v.root_cause,
    )


def consolidated(
    ledger: Ledger, items_table: str, *, cutoff_ms: int, min_agreement: float
) -> Iterator[tuple[ConsolidatedItem, list[ValidLabel], bytes | None]]:
    """Each item of ``items_table`` that has a voting label up to the cut-off, in item order: its
    consolidated label, its voting labels and its usable embedding."""
    ledger.decode_candidates(items_table)
    embeddings = ledger.embeddings(items_table, cutoff_ms)

    def embedding_of(item_id: str) -> bytes | None:
        for candidate_item, raw in embeddings:  # both streams are in item order
            if candidate_item == item_id:
                return usable_embedding(raw)
        raise AssertionError(f"{item_id} is not among the items being built")

    group: list[ValidLabel] = []
    for label in voting_labels(ledger, items_table, cutoff_ms):
        if group and label.item_id != group[0].item_id:
            item = _consolidated(group, min_agreement)
            yield item, group, embedding_of(item.item_id)
            group = []
        group.append(label)
    if group:
        item = _consolidated(group, min_agreement)
        yield item, group, embedding_of(item.item_id)


def _consolidated(group: list[ValidLabel], min_agreement: float) -> ConsolidatedItem:
    if len(group) == 1:
        return _one_vote(group[0], min_agreement)
    (item,) = consolidate(group, min_agreement=min_agreement)
    return item


def _one_vote(v: ValidLabel, min_agreement: float) -> ConsolidatedItem:
    """:func:`consolidate` of an item with one voting label (most items), without its grouping."""
    weak = min_agreement > 1.0
    return ConsolidatedItem(
        item_id=v.item_id,
        label=v.value,
        votes={v.value: 1},
        n_labels=1,
        majority_share=1.0,
        needs_adjudication=weak,
        adjudication_reason="low_agreement" if weak else None,
        kind=v.kind,
        policy_version=v.policy_version,
        model_version=v.model_version,
        first_submitted_at=v.submitted_at,
        last_submitted_at=v.submitted_at,
    )


def row_batches(
    ledger: Ledger, items_table: str, *, cutoff_ms: int, min_agreement: float
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """(items, labels) Arrow tables of the items in ``items_table``, a row group's worth of items at a
    time, in item order (labels by item, annotator, label id)."""
    items: list[tuple[Any, ...]] = []
    labels: list[tuple[Any, ...]] = []
    for item, group, embedding in consolidated(
        ledger, items_table, cutoff_ms=cutoff_ms, min_agreement=min_agreement
    ):
        items.append(item_row(item, embedding))
        labels.extend(label_row(v) for v in group)
        if len(items) >= ROW_GROUP_ROWS:
            yield table_of(ITEMS_SCHEMA, items), table_of(LABELS_SCHEMA, labels)
            items, labels = [], []
    if items:
        yield table_of(ITEMS_SCHEMA, items), table_of(LABELS_SCHEMA, labels)
