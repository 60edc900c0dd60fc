"""The demo's live terminal view: the guide's weekly numbers and the loop's health, refreshed each second.

It reads the same /metrics endpoints Prometheus scrapes, so what the terminal shows is what an SRE's
dashboard would show.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table

from alstream.demo import scrape


def _fmt(value: float | None, pattern: str = "{:.0f}") -> str:
    return "-" if value is None else pattern.format(value)


def render(
    *, ports: Iterable[int], elapsed_s: float, duration_s: float, phase: str, releases: int = 0
) -> Table:
    samples = scrape.scrape_all(ports)
    assignments = scrape.by_label(samples, "alstream_router_assignments_total", "kind")
    assigned = sum(assignments.values())
    random_share = assignments.get("RANDOM", 0.0) / assigned if assigned else None
    labels = scrape.total(samples, "alstream_labels_total")
    qa_checks = scrape.total(samples, "alstream_qa_checks_total")
    qa_errors = scrape.total(samples, "alstream_qa_errors_total")
    validation = scrape.by_label(samples, "alstream_model_validation_metric", "model_name")
    table = Table(title=f"alstream demo - {phase} - {elapsed_s:4.0f}s / {duration_s:.0f}s", show_header=True)
    table.add_column("measure")
    table.add_column("now", justify="right")
    rows = [
        ("items scored", _fmt(scrape.total(samples, "alstream_scorer_items_scored_total"))),
        ("candidates", _fmt(scrape.total(samples, "alstream_scorer_candidates_total"))),
        ("pool depth", _fmt(scrape.total(samples, "alstream_router_pool_depth"))),
        ("assignments", _fmt(assigned)),
        ("random share of assignments", _fmt(random_share, "{:.1%}")),
        ("labels (this run = this week)", _fmt(labels)),
        (
            "time per item (mean, s)",
            _fmt(scrape.histogram_mean(samples, "alstream_label_time_per_item_seconds"), "{:.2f}"),
        ),
        ("QA error rate", _fmt(qa_errors / qa_checks if qa_checks else None, "{:.1%}")),
        ("annotators at hard quota", _fmt(scrape.total(samples, "alstream_router_annotators_at_quota"))),
        (
            "disagreement rate",
            _fmt(scrape.total(samples, "alstream_agreement_disagreement_rate") or None, "{:.1%}"),
        ),
        ("calibration events", _fmt(scrape.total(samples, "alstream_calibration_events_total"))),
        ("model swaps in the scorer", _fmt(scrape.total(samples, "alstream_scorer_model_swaps_total"))),
        (
            "validation metric (serving model)",
            _fmt(max(validation.values()) if validation else None, "{:.3f}"),
        ),
        # Releases built by the agent (weekly) and on demand by `alstream release build` (the cadence here).
        ("releases", _fmt(max(releases, scrape.total(samples, "alstream_releases_total")))),
        ("dead letters", _fmt(scrape.total(samples, "alstream_dead_letters_total"))),
    ]
    if any(name.startswith("alstream_label_studio_") for name, _ in samples):  # demo --ui
        read = scrape.by_label(samples, "alstream_label_studio_annotations_read_total", "outcome")
        rows.append(("answers from Label Studio (a person)", _fmt(sum(read.values()))))
    for name, value in rows:
        table.add_row(name, value)
    return table
