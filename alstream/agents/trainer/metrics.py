"""Trainer metrics (docs/metrics.md, "Releases and training")."""

from prometheus_client import Counter, Gauge

TRAINER_RUNS = Counter(
    "alstream_trainer_runs_total", "Training runs by outcome (published, refused).", ["outcome"]
)
TRAINER_VALIDATION_METRIC = Gauge(
    "alstream_trainer_validation_metric",
    "The latest trained model's primary metric on the fixed validation set.",
)
