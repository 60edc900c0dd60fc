"""Ingestion metrics (names fixed by docs/metrics.md)."""

from prometheus_client import Counter

ITEMS_SENT = Counter("alstream_ingest_items_sent_total", "Items acknowledged by the broker.")
ITEMS_REJECTED = Counter(
    "alstream_ingest_items_rejected_total", "Items refused by validation before producing.", ["reason"]
)
