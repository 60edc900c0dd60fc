"""A release's two Parquet files, written from Arrow tables in item order, and the manifest's numbers
gathered from the same tables.

Row groups are always exactly :data:`ROW_GROUP_ROWS` rows (the last one fewer), however the tables
arrive, so a release written from recomputed rows and one merged from its parent's row groups are
the same bytes. The numbers are column operations on each table (Arrow compute), not a Python loop
per label, so a build that copies a parent's rows pays little for them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from alstream.agents.release.files import (
    ITEMS_FILE,
    ITEMS_SCHEMA,
    LABELS_FILE,
    LABELS_SCHEMA,
    ROW_GROUP_ROWS,
    parquet_options,
)
from alstream.agents.release.spool import SpooledFiles

TIMESTAMP = pa.timestamp("ms", tz="UTC")


class RowGroupFile:
    """One Parquet file written in row groups of exactly ``ROW_GROUP_ROWS`` rows."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.schema = schema
        self.writer = pq.ParquetWriter(str(path), schema, **parquet_options(schema))
        self.pending: list[pa.Table] = []
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self.pending.append(table)
            self.rows += table.num_rows
        while self.rows >= ROW_GROUP_ROWS:
            self._emit(ROW_GROUP_ROWS)

    def _emit(self, n: int) -> None:
        table = pa.concat_tables(self.pending)
        head, rest = table.slice(0, n), table.slice(n)
        self.writer.write_table(head.combine_chunks(), row_group_size=n)
        self.pending = [rest] if rest.num_rows else []
        self.rows = rest.num_rows

    def close(self) -> None:
        if self.rows:
            self._emit(self.rows)
        self.writer.close()


def _counts(column: pa.ChunkedArray | pa.Array) -> Counter[str]:
    out: Counter[str] = Counter()
    for entry in pc.value_counts(pc.drop_null(column)).to_pylist():
        out[entry["values"]] += entry["counts"]
    return out


@dataclass
class ReleaseNumbers:
    """The manifest's numbers, added up table by table."""

    parent_cut: datetime | None
    qa_gold: Mapping[str, str]
    item_count: int = 0
    label_count: int = 0
    added: int = 0
    added_from: datetime | None = None
    added_to: datetime | None = None
    new_items: int = 0
    trainable: int = 0
    counts_by_kind: Counter[str] = field(default_factory=Counter)
    label_counts_by_kind: Counter[str] = field(default_factory=Counter)
    counts_by_class: Counter[str] = field(default_factory=Counter)
    adjudication: Counter[str] = field(default_factory=Counter)
    root_causes: Counter[str] = field(default_factory=Counter)
    policy_versions: set[str] = field(default_factory=set)
    model_versions: set[str] = field(default_factory=set)
    values: set[str] = field(default_factory=set)
    overlapped: list[dict[str, str]] = field(default_factory=list)  # annotator -> value, 2+ annotators
    qa_checks: int = 0
    qa_wrong: int = 0

    def __post_init__(self) -> None:
        self._gold_items = pa.array(list(self.qa_gold), type=pa.string())
        self._gold_values = pa.array(list(self.qa_gold.values()), type=pa.string())

    def _after_parent(self, column: pa.ChunkedArray) -> pa.ChunkedArray | None:
        """A mask of times after the parent's cut-off (None: no parent, every row is new)."""
        if self.parent_cut is None:
            return None
        return pc.greater(column, pa.scalar(self.parent_cut, type=TIMESTAMP))

    def add(self, items: pa.Table, labels: pa.Table) -> None:
        """Numbers of ``items`` and ``labels``, the rows of the same items (every label of an item is
        in the same call)."""
        self.item_count += items.num_rows
        new = self._after_parent(items["first_submitted_at"])
        self.new_items += items.num_rows if new is None else pc.sum(new).as_py() or 0
        trainable = pc.and_(pc.is_valid(items["label"]), pc.is_valid(items["embedding"]))
        self.trainable += pc.sum(trainable).as_py() or 0
        self.counts_by_kind += _counts(items["kind"])
        self.counts_by_class += _counts(items["label"])
        self.adjudication += _counts(items["adjudication_reason"].filter(items["needs_adjudication"]))
        self._add_labels(labels)
        overlapped = items["item_id"].filter(pc.greater_equal(items["n_labels"], 2))
        if len(overlapped):
            voters = labels.filter(pc.is_in(labels["item_id"], value_set=overlapped.combine_chunks()))
            current: str | None = None
            for item_id, annotator, value in zip(
                voters["item_id"].to_pylist(),
                voters["annotator_id"].to_pylist(),
                voters["value"].to_pylist(),
                strict=True,
            ):
                if item_id != current:
                    self.overlapped.append({})
                    current = item_id
                self.overlapped[-1][annotator] = value

    def _add_labels(self, labels: pa.Table) -> None:
        self.label_count += labels.num_rows
        self.label_counts_by_kind += _counts(labels["kind"])
        self.policy_versions.update(pc.unique(pc.drop_null(labels["policy_version"])).to_pylist())
        self.model_versions.update(pc.unique(pc.drop_null(labels["model_version"])).to_pylist())
        self.values.update(pc.unique(pc.drop_null(labels["value"])).to_pylist())
        causes = pc.drop_null(labels["root_cause"])
        self.root_causes += _counts(causes.filter(pc.not_equal(causes, "")))
        submitted = labels["submitted_at"]
        after = self._after_parent(submitted)
        added = submitted if after is None else submitted.filter(after)
        if len(added):
            self.added += len(added)
            low, high = pc.min_max(added).values()
            self.added_from = min(self.added_from or low.as_py(), low.as_py())
            self.added_to = max(self.added_to or high.as_py(), high.as_py())
        if self.qa_gold:
            at = pc.index_in(labels["item_id"], value_set=self._gold_items)
            checked = pc.is_valid(at)
            expected = self._gold_values.take(at.filter(checked))
            self.qa_checks += pc.sum(checked).as_py() or 0
            self.qa_wrong += pc.sum(pc.not_equal(labels["value"].filter(checked), expected)).as_py() or 0


class ReleaseWriter:
    """Writes items.parquet and labels.parquet into a spool and adds up their numbers."""

    def __init__(self, spool: SpooledFiles, numbers: ReleaseNumbers) -> None:
        self.numbers = numbers
        self.items = RowGroupFile(spool.new_path(ITEMS_FILE), ITEMS_SCHEMA)
        self.labels = RowGroupFile(spool.new_path(LABELS_FILE), LABELS_SCHEMA)

    def write(self, items: pa.Table, labels: pa.Table) -> None:
        self.numbers.add(items, labels)
        self.items.write(items)
        self.labels.write(labels)

    def close(self) -> list[str]:
        self.items.close()
        self.labels.close()
        return [ITEMS_FILE, LABELS_FILE]
