"""Trainer metrics (docs/metrics.md, "Releases and training")."""

from prometheus_client import Counter, Gauge

TRAINER_RUNS = Counter(
    "alstream_trainer_runs_total", "Training runs by outcome (published, refused).", ["outcome"]
)
TRAINER_VALIDATION_METRIC = Gauge(
    "alstream_trainer_validation_metric",
    "The latest trained model's primary metric on the fixed validation set.",
)
ONLINE_METRIC = Gauge(
    "alstream_trainer_online_metric",
    "Primary metric on held-out random-slice labels: the loop's committee and the random counterfactual "
    "at equal label counts, and the served model.",
    ["arm"],
)
ONLINE_ADVANTAGE = Gauge(
    "alstream_trainer_online_advantage",
    "Loop minus random on held-out random-slice labels, at equal label counts (> 0: the loop wins).",
)
ONLINE_TRAINING_LABELS = Gauge(
    "alstream_trainer_online_training_labels",
    "Labels each of the loop and random committees learned from in the latest online proof.",
)
ONLINE_EVAL_LABELS = Gauge(
    "alstream_trainer_online_eval_labels", "Held-out random-slice labels the latest online proof used."
)
ONLINE_EVALUATED_AT = Gauge(
    "alstream_trainer_online_evaluated_timestamp_seconds", "When the latest online proof was measured."
)
