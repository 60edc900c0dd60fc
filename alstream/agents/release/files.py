"""What a release's Parquet files hold and how they are written: one place, so every build writes
the same bytes for the same rows."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

FORMAT_VERSION = 1
ITEMS_FILE = "items.parquet"
LABELS_FILE = "labels.parquet"
ROW_GROUP_ROWS = 16_384  # rows per Parquet row group: what a build holds of each file at a time
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "write_statistics": True,
}
# Columns with few distinct values: dictionary-encoded. Ids, times and embeddings are not (a dictionary
# of unique values only costs time: it doubled the write time of an items file).
DICTIONARY_COLUMNS = frozenset(
    {
        "label",
        "adjudication_reason",
        "votes",
        "kind",
        "policy_version",
        "model_version",
        "annotator_id",
        "value",
        "root_cause",
    }
)

ITEMS_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("label", pa.string()),
        ("needs_adjudication", pa.bool_()),
        ("adjudication_reason", pa.string()),
        ("n_labels", pa.int32()),
        ("majority_share", pa.float64()),
        ("votes", pa.string()),
        ("kind", pa.string()),
        ("policy_version", pa.string()),
        ("model_version", pa.string()),
        ("first_submitted_at", pa.timestamp("ms", tz="UTC")),
        ("last_submitted_at", pa.timestamp("ms", tz="UTC")),
        ("embedding", pa.list_(pa.float32())),
    ]
)
LABELS_SCHEMA = pa.schema(
    [
        ("label_id", pa.string()),
        ("item_id", pa.string()),
        ("annotator_id", pa.string()),
        ("value", pa.string()),
        ("kind", pa.string()),
        ("policy_version", pa.string()),
        ("model_version", pa.string()),
        ("submitted_at", pa.timestamp("ms", tz="UTC")),
        ("root_cause", pa.string()),
    ]
)
LABELS_ORDER = [("item_id", "ascending"), ("annotator_id", "ascending"), ("label_id", "ascending")]


def parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """The writer options of a release file with ``schema``."""
    return {**PARQUET_OPTIONS, "use_dictionary": [n for n in schema.names if n in DICTIONARY_COLUMNS]}
