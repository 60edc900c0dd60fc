"""The scorer's Prometheus metrics; names and labels follow docs/metrics.md (Scorer section)."""

from prometheus_client import Counter, Gauge, Histogram

ITEMS_SCORED = Counter(
    "alstream_scorer_items_scored", "Items scored, by the signal that scored them.", ["signal"]
)
BATCH_SECONDS = Histogram(
    "alstream_scorer_batch_duration_seconds",
    "Decode + score + produce of one batch.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
SCORES = Histogram(
    "alstream_scorer_score",
    "Distribution of selection scores, by signal.",
    ["signal"],
    buckets=(0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.5, 2.0, 3.0),
)
RANDOM_SLICE_SHARE = Gauge(
    "alstream_scorer_random_slice_share", "Share of recently scored items in the fixed random slice."
)
CANDIDATES = Counter("alstream_scorer_candidates", "Candidates emitted, by reason.", ["reason"])
DRIFT_PSI = Gauge(
    "alstream_scorer_drift_psi",
    "Population stability index of the random slice, week over week.",
    ["dimension"],
)
DOMAIN_SHIFT = Gauge("alstream_scorer_domain_shift", "1 while the drift check reports a shift.")
MODEL_SWAPS = Counter("alstream_scorer_model_swaps", "Model versions hot-swapped in.")
MODEL_VALIDATION = Gauge(
    "alstream_model_validation_metric",
    "The serving model's metric on the fixed validation set.",
    ["model_name"],
)
FALLBACK_ACTIVE = Gauge(
    "alstream_scorer_fallback_active",
    "1 while the policy's signal cannot run (no model, no committee) and items are scored by 'random'.",
)
COLD_START_ACTIVE = Gauge(
    "alstream_scorer_cold_start_active",
    "1 while the policy's cold-start rule ranks items at random (the model lacks labels of some class).",
)
