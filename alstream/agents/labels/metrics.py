"""Labels and QA metrics (docs/metrics.md, "Labels and QA"). Label values are bounded: assignment
kinds, label statuses, our rejection class names, and a capped top-N of annotators for QA."""

from prometheus_client import Counter, Gauge, Histogram

LABELS_TOTAL = Counter(
    "alstream_labels_total", "Labels accepted, by assignment kind and status.", ["kind", "status"]
)
TIME_PER_ITEM = Histogram(
    "alstream_label_time_per_item_seconds",
    "submitted_at - started_at of accepted labels, by assignment kind.",
    ["kind"],
    buckets=(1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200, 1800, 3600),
)
REJECTED = Counter(
    "alstream_labels_rejected_total", "Invalid labels (also dead-lettered), by reason.", ["reason"]
)
DUPLICATES = Counter("alstream_labels_duplicates_total", "Duplicate label ids ignored.")
PENDING = Gauge("alstream_labels_pending", "Labels held because their assignment has not been seen yet.")
QA_CHECKS = Counter("alstream_qa_checks_total", "Labels on stable QA gold items.")
QA_ERRORS = Counter("alstream_qa_errors_total", "Labels on stable QA gold items that were wrong.")
QA_ERROR_RATE = Gauge(
    "alstream_qa_error_rate", "Rolling QA error rate over the last labels.qa_window checks."
)
QA_ANNOTATOR_ERROR_RATE = Gauge(
    "alstream_qa_annotator_error_rate",
    "Rolling QA error rate of the worst annotators (capped top-N, labels.qa_annotator_top_n).",
    ["annotator"],
)
