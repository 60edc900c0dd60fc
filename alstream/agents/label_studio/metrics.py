"""Metrics of the Label Studio bridge (docs/metrics.md, Operations dashboard)."""

from prometheus_client import Counter, Gauge, Histogram

TASKS_IMPORTED = Counter(
    "alstream_label_studio_tasks_imported",
    "Assignments imported as Label Studio tasks: created, or found already there after a restart.",
    ["outcome"],
)
TASKS_REMOVED = Counter(
    "alstream_label_studio_tasks_removed",
    "Unanswered tasks taken out of a queue, by reason (lease expired, annotator offline).",
    ["reason"],
)
ANNOTATIONS_READ = Counter(
    "alstream_label_studio_annotations_read",
    "Annotation versions read from Label Studio, by outcome (label, edit, skip, rejected).",
    ["outcome"],
)
ANNOTATION_LAG = Histogram(
    "alstream_label_studio_annotation_lag_seconds",
    "From an annotation's save in Label Studio to its label being acknowledged by the broker.",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900),
)
QUEUE_TASKS = Gauge("alstream_label_studio_queue_tasks", "Open tasks in the annotators' queues.")
ANNOTATORS = Gauge(
    "alstream_label_studio_annotators",
    "Annotators the bridge serves, by presence (online, offline).",
    ["state"],
)
LAST_POLL = Gauge(
    "alstream_label_studio_last_poll_timestamp_seconds", "Unix time of the last complete annotation poll."
)
ACCOUNTS_CREATED = Counter("alstream_label_studio_accounts_created", "Annotator accounts the bridge created.")
WEBHOOK_HINTS = Counter(
    "alstream_label_studio_webhook_hints", "Webhook calls from Label Studio that woke the poll early."
)
