"""Router metrics (docs/metrics.md, Router rows). No annotator ids as label values: per-annotator figures
are observed into histograms or counted into gauges."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ASSIGNMENTS = Counter(
    "alstream_router_assignments_total",
    "New assignments made, by kind (each decision once; re-sent leases are counted apart).",
    ["kind"],
)
ASSIGNMENTS_RESENT = Counter(
    "alstream_router_assignments_resent_total",
    "Open leases sent again after a restore or rebalance (tools dedupe them by assignment_id), by kind.",
    ["kind"],
)
READY_UNSERVED = Counter(
    "alstream_router_ready_unserved_total",
    "READY events a shard served with fewer assignments than asked, by reason (agents/router/reasons.py).",
    ["reason"],
)
IDLE = Gauge(
    "alstream_router_annotators_idle",
    "Online annotators whose latest READY got nothing and who hold no open assignment, by reason.",
    ["reason"],
)
CALIBRATION_REFUSED = Counter(
    "alstream_router_calibration_refused_total",
    "Calibration items a shard would assign but cannot vouch for (never pooled or assigned), by reason.",
    ["reason"],
)
POOL_DEPTH = Gauge(
    "alstream_router_pool_depth", "Candidates waiting in the pool, by candidate reason.", ["reason"]
)
LEASE_EXPIRIES = Counter(
    "alstream_router_lease_expiries_total", "Leases expired; their items returned to the pool."
)
HARD_QUOTA_USE = Histogram(
    "alstream_router_hard_quota_use_ratio",
    "Per annotator at each READY: hard items in the rolling day over the cap.",
    buckets=(0.1, 0.25, 0.5, 0.75, 0.9, 1.0),
)
HARD_SHARE = Histogram(
    "alstream_router_hard_share_ratio",
    "Per annotator at each READY: share of hard items in the rolling day (1 - normal share).",
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
)
AT_QUOTA = Gauge(
    "alstream_router_annotators_at_quota",
    "Online annotators who used their hard-item quota on every shard this worker owns.",
)
ONLINE = Gauge("alstream_router_annotators_online", "Annotators online.")
READY_LATENCY = Histogram(
    "alstream_router_ready_to_assignment_seconds",
    "READY event occurred_at to its assignments handed to the producer.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
POOL_REMOVED = Counter(
    "alstream_router_pool_removed_total",
    "Candidates that left the pool unassigned: aged_out, evicted (bound), fresh_pool_refresh (monthly).",
    ["reason"],
)
LABELS_MATCHED = Counter(
    "alstream_router_labels_total", "Labels seen by the router: completed a lease or ignored.", ["outcome"]
)
WEEK_START = Gauge(
    "alstream_router_week_start_timestamp_seconds", "Current weekly reset point for drift checks."
)
SHARDS = Gauge("alstream_router_shards", "Shards (partitions) this router worker serves.")
RESTORE_SECONDS = Histogram(
    "alstream_router_restore_seconds",
    "How long shard restores took (checkpoint + changelog tail, until the shard served).",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300),
)
RESTORED_RECORDS = Counter(
    "alstream_router_restored_records_total",
    "State records a restore read, by source (checkpoint: the local checkpoint; changelog: the tail).",
    ["source"],
)
EVENTS_FANNED_OUT = Counter(
    "alstream_router_annotator_events_total",
    "Annotator events by how the tool sent them: keyed (one event, fanned out to every shard by the "
    "router) or broadcast (the deprecated form: a copy to every partition).",
    ["form"],
)
