"""Agreement and calibration metrics (docs/metrics.md, "Agreement and calibration").
Label values are bounded: the task's classes and the closed root-cause list (plus ``untagged``)."""

from prometheus_client import Counter, Gauge

DISAGREEMENT_RATE = Gauge(
    "alstream_agreement_disagreement_rate", "Share of overlapped items in the window with disagreement."
)
BASELINE_RATE = Gauge("alstream_agreement_baseline_rate", "Trailing baseline disagreement rate.")
KRIPPENDORFF_ALPHA = Gauge(
    "alstream_agreement_krippendorff_alpha", "Nominal Krippendorff's alpha of the window."
)
FLEISS_KAPPA = Gauge("alstream_agreement_fleiss_kappa", "Fleiss' kappa of the window (most common k).")
PERCENT_AGREEMENT = Gauge(
    "alstream_agreement_pairwise_agreement_ratio", "Mean pairwise (percent) agreement of the window, 0-1."
)
COHEN_KAPPA_MEAN = Gauge(
    "alstream_agreement_cohen_kappa_mean", "Mean Cohen's kappa over annotator pairs in the window."
)
CLASS_AGREEMENT = Gauge(
    "alstream_agreement_class_specific_agreement", "Specific agreement per class in the window.", ["class_"]
)
ITEMS = Counter("alstream_agreement_items_total", "Overlapped items closed with at least two answers.")
SPIKE = Gauge("alstream_agreement_spike", "1 while a disagreement spike is active.")
CALIBRATION_EVENTS = Counter("alstream_calibration_events_total", "Calibration events emitted.")
MODEL_FAILURES = Counter(
    "alstream_model_failures_total", "Confirmed model failures by root cause.", ["root_cause"]
)
