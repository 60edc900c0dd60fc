"""Release metrics (docs/metrics.md, "Releases and training")."""

from prometheus_client import Counter, Gauge

RELEASES = Counter("alstream_releases_total", "Releases built.")
RELEASE_ITEMS = Gauge("alstream_release_items", "Items in the latest release.")
RELEASE_LAST_TIMESTAMP = Gauge(
    "alstream_release_last_timestamp_seconds", "When the latest release was built."
)
LEDGER_RECORDS = Counter(
    "alstream_release_ledger_records_total",
    "Records the release ledger copied from a topic (labels, assignments, candidates).",
    ["topic"],
)
LEDGER_MISSED = Counter(
    "alstream_release_ledger_missed_records_total",
    "Records that expired from a topic before the release ledger read them (the agent was down longer "
    "than the topic's retention).",
    ["topic"],
)
