"""Release metrics (docs/metrics.md, "Releases and training")."""

from prometheus_client import Counter, Gauge

RELEASES = Counter("alstream_releases_total", "Releases built.")
RELEASE_ITEMS = Gauge("alstream_release_items", "Items in the latest release.")
RELEASE_LAST_TIMESTAMP = Gauge(
    "alstream_release_last_timestamp_seconds", "When the latest release was built."
)
