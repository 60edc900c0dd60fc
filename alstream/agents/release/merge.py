"""An incremental build: the parent release's rows, less the items that changed, merged in item order
with those items' recomputed rows.

The parent's Parquet files are read a row group at a time and the changed items' rows (the period's,
held in memory) are slotted in between, so the Python work of a weekly build is the week's items and
the rest is Arrow copying the parent's columns.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from alstream.agents.release.exceptions import ReleaseError
from alstream.agents.release.files import ITEMS_SCHEMA, LABELS_ORDER, LABELS_SCHEMA, ROW_GROUP_ROWS


class _SortedReader:
    """A Parquet file sorted by item id, handed out as the rows up to a given item id."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.schema = schema
        self.batches = pq.ParquetFile(str(path)).iter_batches(batch_size=ROW_GROUP_ROWS)
        self.buffer = schema.empty_table()
        self.done = False

    def _more(self) -> bool:
        batch = next(self.batches, None)
        if batch is None:
            self.done = True
            return False
        table = pa.Table.from_batches([batch]).cast(self.schema)
        self.buffer = pa.concat_tables([self.buffer, table])
        return True

    def next_group(self) -> pa.Table | None:
        """The next row group's worth of rows (None at the end)."""
        if not self.buffer.num_rows and not self._more():
            return None
        table, self.buffer = self.buffer, self.schema.empty_table()
        return table

    def through(self, last_item: str) -> pa.Table:
        """Every row not handed out yet whose item id is at most ``last_item``."""
        while not self.done and (not self.buffer.num_rows or self.buffer["item_id"][-1].as_py() <= last_item):
            self._more()
        n = pc.sum(pc.less_equal(self.buffer["item_id"], last_item)).as_py() or 0
        head, self.buffer = self.buffer.slice(0, n), self.buffer.slice(n)
        return head

    def rest(self) -> pa.Table:
        """Every row not handed out yet."""
        while self._more():
            pass
        head, self.buffer = self.buffer, self.schema.empty_table()
        return head


def merged_batches(
    *,
    parent_items: Path,
    parent_labels: Path,
    changed: list[str],
    recomputed: Iterator[tuple[pa.Table, pa.Table]],
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """(items, labels) tables of the parent's rows with the ``changed`` items (sorted) replaced by
    their ``recomputed`` rows (in item order), in item order; each call's labels are those of its
    items."""
    parts = list(recomputed)
    new_items = pa.concat_tables([ITEMS_SCHEMA.empty_table(), *(items for items, _ in parts)])
    new_labels = pa.concat_tables([LABELS_SCHEMA.empty_table(), *(labels for _, labels in parts)])
    del parts
    new_item_ids = new_items["item_id"].to_pylist()
    new_label_items = new_labels["item_id"].to_pylist()
    dropped = pa.array(changed, type=pa.string())
    items_reader = _SortedReader(parent_items, ITEMS_SCHEMA)
    labels_reader = _SortedReader(parent_labels, LABELS_SCHEMA)
    at_item = at_label = 0
    while (group := items_reader.next_group()) is not None:
        if not group.num_rows:
            continue
        last = group["item_id"][-1].as_py()
        labels = labels_reader.through(last)
        group = group.filter(pc.invert(pc.is_in(group["item_id"], value_set=dropped)))
        labels = labels.filter(pc.invert(pc.is_in(labels["item_id"], value_set=dropped)))
        end_item = bisect_right(new_item_ids, last, lo=at_item)
        end_label = bisect_right(new_label_items, last, lo=at_label)
        items = pa.concat_tables([group, new_items.slice(at_item, end_item - at_item)])
        labels = pa.concat_tables([labels, new_labels.slice(at_label, end_label - at_label)])
        at_item, at_label = end_item, end_label
        yield items.sort_by("item_id"), labels.sort_by(LABELS_ORDER)
    if labels_reader.rest().num_rows:  # the parent's files were verified against its manifest
        raise ReleaseError("the parent release's labels name items its items file does not have")
    if at_item < len(new_item_ids) or at_label < len(new_label_items):
        yield new_items.slice(at_item), new_labels.slice(at_label)
