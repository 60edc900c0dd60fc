"""Lints metric names: the documented contract (docs/metrics.md) and every metric the code registers.

A bad name is expensive to fix once dashboards, alerts and recorded history depend on it, so the
rules are checked here rather than in review.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import alstream
from alstream.observability.naming import MetricSpec, lint, parse_metrics_doc
from alstream.observability.registry import import_all, registered_metrics

# The guide's four weekly numbers and the loop's health: first-class metrics.
REQUIRED = {
    "alstream_labels_total",  # labels per week
    "alstream_label_time_per_item_seconds",  # time per item
    "alstream_qa_checks_total",  # error rate on the stable QA set (with the next one)
    "alstream_qa_errors_total",
    "alstream_model_validation_metric",  # model metric on the fixed validation set
    "alstream_agent_records_total",  # throughput
    "alstream_consumer_lag_messages",
    "alstream_router_pool_depth",
    "alstream_router_hard_quota_use_ratio",
    "alstream_scorer_random_slice_share",
    "alstream_agreement_disagreement_rate",
    "alstream_dead_letters_total",
}


@pytest.fixture(scope="module")
def documented(repo: Path) -> dict[str, MetricSpec]:
    return parse_metrics_doc(repo / "docs" / "metrics.md")


def test_contract_lists_the_guides_numbers(documented: dict[str, MetricSpec]) -> None:
    assert set(documented) >= REQUIRED, f"missing from docs/metrics.md: {sorted(REQUIRED - set(documented))}"


def test_documented_names_follow_the_rules(documented: dict[str, MetricSpec]) -> None:
    problems = [problem for spec in documented.values() for problem in lint(spec)]
    assert not problems, "docs/metrics.md:\n" + "\n".join(problems)


def test_latencies_are_histograms(documented: dict[str, MetricSpec]) -> None:
    timed = [
        s
        for s in documented.values()
        if s.name.startswith("alstream_") and s.name.endswith("_seconds") and "timestamp" not in s.name
    ]
    assert timed, "expected latency metrics in the contract"
    assert [s.name for s in timed if s.type != "histogram"] == []


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        (MetricSpec("labels_total", "counter", ()), "must start with"),
        (MetricSpec("alstream_labels", "counter", ()), "_total"),
        (MetricSpec("alstream_pool_total", "gauge", ()), "only counters"),
        (MetricSpec("alstream_batch_duration_ms", "histogram", ()), "base unit"),
        (MetricSpec("alstream_label_time", "histogram", ()), "seconds"),
        (MetricSpec("alstream_release_timestamp", "gauge", ()), "timestamp"),
        (MetricSpec("alstream_labels_total", "counter", ("annotator_id",)), "unbounded"),
        (MetricSpec("alstream_labels_total", "counter", ("id",)), "unbounded"),
        (MetricSpec("alstream:labels:rate5m", "gauge", ()), "snake case"),
        (MetricSpec("alstream_share_percent", "gauge", ()), "base unit"),
    ],
)
def test_lint_catches(spec: MetricSpec, fragment: str) -> None:
    assert any(fragment in problem for problem in lint(spec)), lint(spec)


def test_lint_accepts_good_names() -> None:
    assert lint(MetricSpec("alstream_router_ready_to_assignment_seconds", "histogram", ("agent",))) == []
    assert lint(MetricSpec("alstream_agent_last_progress_timestamp_seconds", "gauge", ("agent",))) == []


def test_doc_parser_reads_labels_and_values(tmp_path: Path) -> None:
    doc = tmp_path / "m.md"
    doc.write_text(
        "| name | type | labels | meaning |\n|---|---|---|---|\n"
        "| `alstream_x_total` | counter | outcome (published, refused), agent | x |\n"
    )
    assert parse_metrics_doc(doc) == {
        "alstream_x_total": MetricSpec("alstream_x_total", "counter", ("outcome", "agent"))
    }
    doc.write_text(doc.read_text() + "| `alstream_x_total` | counter | | again |\n")
    with pytest.raises(ValueError, match="listed twice"):
        parse_metrics_doc(doc)


def test_every_registered_metric_is_well_named_and_documented(documented: dict[str, MetricSpec]) -> None:
    """Import every alstream module, then read prometheus_client's registry."""
    failures = import_all(alstream)
    assert not failures, "modules that do not import: " + "; ".join(
        f"{m}: {e!r}" for m, e in failures.items()
    )
    registered = registered_metrics()
    assert "alstream_dead_letters_total" in registered, "the shared metrics should be registered"
    problems = [problem for spec in registered.values() for problem in lint(spec)]
    for name, spec in sorted(registered.items()):
        doc = documented.get(name)
        if doc is None:
            problems.append(f"{name} ({spec.type}) is registered but not in docs/metrics.md")
            continue
        if doc.type != spec.type:
            problems.append(f"{name}: registered as {spec.type}, documented as {doc.type}")
        if spec.type != "info" and set(doc.labels) != set(spec.labels):  # info labels are values, set later
            problems.append(
                f"{name}: registered labels {sorted(spec.labels)}, documented {sorted(doc.labels)}"
            )
    assert not problems, "\n".join(problems)


def test_every_documented_metric_is_registered_by_some_module(documented: dict[str, MetricSpec]) -> None:
    """The other direction: a documented name nobody registers is a dashboard panel that stays empty."""
    assert not import_all(alstream)
    registered = registered_metrics()
    unregistered = sorted(
        name for name in documented if name.startswith("alstream_") and name not in registered
    )
    assert unregistered == [], "documented in docs/metrics.md but registered by no alstream module"
