"""Builds grafana/dashboards/*.json with grafana-foundation-sdk, Grafana's own typed builders.

Each row of a dashboard is one function returning its panels, so adding a panel (or a row) is an
edit in one place: write it in the function of its row, or add a row function and list it in the
dashboard's function. Panels are laid out left to right, as Grafana's grid does, and wrap when a
panel does not fit the 24 columns. Every query uses only metrics from docs/metrics.md, and
``$__rate_interval`` is the only Grafana variable (the live test replaces it).

Run ``python grafana/build_dashboards.py`` after editing; tests/unit/observability/test_dashboards.py
fails when the committed JSON differs from what this script builds.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dashboard_builders
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as models

DATASOURCE = models.DataSourceRef(type_val="prometheus", uid="alstream-prometheus")
OUT = Path(__file__).resolve().parent / "dashboards"
RATE = "$__rate_interval"
GRID_COLUMNS = 24


@dataclass
class Panel:
    """One panel as its row function writes it: what it shows, in which unit, how large."""

    title: str
    description: str
    targets: list[tuple[str, str]]  # (expr, legend)
    unit: str = "short"
    kind: str = "timeseries"  # or "stat"
    width: int = 12
    height: int = 8
    thresholds: list[tuple[float, str]] = field(default_factory=list)  # (from value, colour) over green
    time_from: str = ""  # a panel-wide range over the dashboard's, e.g. "8w" for a week-by-week view


def panel(
    title: str,
    description: str,
    targets: list[tuple[str, str]],
    *,
    unit: str = "short",
    kind: str = "timeseries",
    width: int = 12,
    height: int = 8,
    thresholds: list[tuple[float, str]] | None = None,
    time_from: str = "",
) -> Panel:
    return Panel(title, description, targets, unit, kind, width, height, list(thresholds or []), time_from)


@dataclass
class Group:
    """A row of a dashboard: its title and its panels, in order."""

    title: str
    panels: list[Panel]


def _queries(targets: list[tuple[str, str]]) -> list[prometheus.Dataquery]:
    return [
        prometheus.Dataquery()
        .ref_id(chr(ord("A") + index))
        .datasource(DATASOURCE)
        .expr(expr)
        .legend_format(legend)
        .range()
        for index, (expr, legend) in enumerate(targets)
    ]


def _thresholds(steps: list[tuple[float, str]]) -> dashboard_builders.ThresholdsConfig:
    return (
        dashboard_builders.ThresholdsConfig()
        .mode(models.ThresholdsMode.ABSOLUTE)
        .steps(
            [models.Threshold(value=None, color="green")]
            + [models.Threshold(value=value, color=color) for value, color in steps]
        )
    )


def _build(spec: Panel, panel_id: int, grid: models.GridPos) -> Any:
    """The SDK builder of one panel: a time series (legend below, all series in the tooltip) or a
    stat (the last value, with its sparkline)."""
    built: Any
    if spec.kind == "stat":
        built = (
            stat.Panel()
            .reduce_options(
                common_builders.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False)
            )
            .color_mode(common.BigValueColorMode.VALUE)
            .graph_mode(common.BigValueGraphMode.AREA)
            .justify_mode(common.BigValueJustifyMode.AUTO)
            .orientation(common.VizOrientation.AUTO)
            .text_mode(common.BigValueTextMode.AUTO)
        )
    elif spec.kind == "timeseries":
        built = (
            timeseries.Panel()
            .legend(
                common_builders.VizLegendOptions()
                .display_mode(common.LegendDisplayMode.LIST)
                .placement(common.LegendPlacement.BOTTOM)
                .show_legend(True)
            )
            .tooltip(
                common_builders.VizTooltipOptions()
                .mode(common.TooltipDisplayMode.MULTI)
                .sort(common.SortOrder.DESCENDING)
            )
        )
    else:
        raise ValueError(f"{spec.title}: unknown panel kind {spec.kind!r}")
    built = (
        built.id(panel_id)
        .title(spec.title)
        .description(spec.description)
        .datasource(DATASOURCE)
        .unit(spec.unit)
        .thresholds(_thresholds(spec.thresholds))
        .grid_pos(grid)
    )
    if spec.time_from:
        built = built.time_from(spec.time_from)
    for query in _queries(spec.targets):
        built = built.with_target(query)
    return built


def dashboard(uid: str, title: str, description: str, time_from: str, groups: list[Group]) -> dict[str, Any]:
    """A dashboard of ``groups``, each a row header followed by its panels, laid out on the grid."""
    board = (
        dashboard_builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["alstream"])
        .timezone("utc")
        .editable()
        .tooltip(models.DashboardCursorSync.CROSSHAIR)
        .refresh("1m")
        .time(time_from, "now")
        .version(1)
    )
    panel_id, y = 1, 0
    for group in groups:
        board = board.with_row(
            dashboard_builders.Row(group.title)
            .id(panel_id)
            .grid_pos(models.GridPos(h=1, w=GRID_COLUMNS, x=0, y=y))
        )
        panel_id, y = panel_id + 1, y + 1
        x, row_height = 0, 0
        for spec in group.panels:
            if x + spec.width > GRID_COLUMNS:
                x, y, row_height = 0, y + row_height, 0
            board = board.with_panel(
                _build(spec, panel_id, models.GridPos(h=spec.height, w=spec.width, x=x, y=y))
            )
            panel_id += 1
            x += spec.width
            row_height = max(row_height, spec.height)
        y += row_height
    built: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return built


# ---- alstream / Operations: the guide's numbers and the loop, for the labeling lead and ML owner ---------


def guide_numbers() -> Group:
    return Group(
        "The guide's four numbers",
        [
            panel(
                "Labels, last 7 days",
                "Labels accepted in the last 7 days. If this drops while QA errors rise, the loop is broken.",
                [("sum(increase(alstream_labels_total[7d]))", "labels")],
                kind="stat",
                width=6,
            ),
            panel(
                "Time per item (median, 1d)",
                "Median of submitted_at - started_at over the last day.",
                [
                    (
                        "histogram_quantile(0.5, sum by (le) "
                        "(rate(alstream_label_time_per_item_seconds_bucket[1d])))",
                        "p50",
                    )
                ],
                unit="s",
                kind="stat",
                width=6,
            ),
            panel(
                "QA error rate, last 7 days",
                "Wrong answers on the stable QA gold set / QA checks, last 7 days.",
                [
                    (
                        "sum(increase(alstream_qa_errors_total[7d])) "
                        "/ sum(increase(alstream_qa_checks_total[7d]))",
                        "QA error",
                    )
                ],
                unit="percentunit",
                kind="stat",
                width=6,
                thresholds=[(0.05, "orange"), (0.1, "red")],
            ),
            panel(
                "Validation metric (serving model)",
                "The serving model's metric on the fixed validation set.",
                [("max by (model_name) (alstream_model_validation_metric)", "{{model_name}}")],
                unit="percentunit",
                kind="stat",
                width=6,
            ),
            panel(
                "Labels per day by kind",
                "Accepted labels per day, by assignment kind.",
                [("sum by (kind) (increase(alstream_labels_total[1d]))", "{{kind}}")],
            ),
            panel(
                "Time per item by kind (p50, p90)",
                "Labeling time per item; hard items should take longer, not forever.",
                [
                    (
                        "histogram_quantile(0.5, sum by (le, kind) "
                        f"(rate(alstream_label_time_per_item_seconds_bucket[{RATE}])))",
                        "p50 {{kind}}",
                    ),
                    (
                        "histogram_quantile(0.9, sum by (le, kind) "
                        f"(rate(alstream_label_time_per_item_seconds_bucket[{RATE}])))",
                        "p90 {{kind}}",
                    ),
                ],
                unit="s",
            ),
            panel(
                "QA error rate",
                "Rolling QA error rate (labels agent) and the 1-day ratio of QA errors to checks.",
                [
                    ("max(alstream_qa_error_rate)", "rolling"),
                    (
                        "sum(increase(alstream_qa_errors_total[1d])) "
                        "/ sum(increase(alstream_qa_checks_total[1d]))",
                        "1 day",
                    ),
                ],
                unit="percentunit",
            ),
            panel(
                "Validation metric over time",
                "Serving model vs the latest trained model, on the fixed validation set.",
                [
                    ("max by (model_name) (alstream_model_validation_metric)", "serving {{model_name}}"),
                    ("max(alstream_trainer_validation_metric)", "latest trained"),
                ],
                unit="percentunit",
            ),
        ],
    )


def selection_and_routing() -> Group:
    return Group(
        "Selection and routing",
        [
            panel(
                "Random-slice share",
                "Share of assignments from the fixed random slice (floor 10%), and the scorer's slice share.",
                [
                    (
                        '(sum(increase(alstream_router_assignments_total{kind="RANDOM"}[1h])) '
                        "or on() vector(0)) "
                        "/ sum(increase(alstream_router_assignments_total[1h]))",
                        "assignments",
                    ),
                    ("avg(alstream_scorer_random_slice_share)", "scored items"),
                ],
                unit="percentunit",
                thresholds=[(0.1, "green")],
            ),
            panel(
                "Assignments per hour by kind",
                "Work handed to annotators: hard, normal, random, qa, overlap, calibration.",
                [("sum by (kind) (increase(alstream_router_assignments_total[1h]))", "{{kind}}")],
            ),
            panel(
                "Candidate pool depth",
                "Candidates waiting for an annotator, by why they were selected.",
                [("sum by (reason) (alstream_router_pool_depth)", "{{reason}}")],
            ),
            panel(
                "Candidates per hour by reason",
                "What the scorer sends to the router: top scores, random slice, QA gold, shift review.",
                [("sum by (reason) (increase(alstream_scorer_candidates_total[1h]))", "{{reason}}")],
            ),
            panel(
                "Pool removals per hour by reason",
                "Candidates that left the pool unassigned (aged out, evicted, refreshed).",
                [
                    (
                        "sum by (reason) (increase(alstream_router_pool_removed_total[1h])) "
                        "or on() vector(0)",
                        "{{reason}}",
                    )
                ],
            ),
            panel(
                "Quota use",
                "Annotators online and annotators at their daily hard-item quota.",
                [
                    ("sum(alstream_router_annotators_online)", "online"),
                    ("sum(alstream_router_annotators_at_quota)", "at quota"),
                ],
            ),
            panel(
                "Hard-item quota use (p90 across annotators)",
                "Hard items in the rolling day / the quota, 90th percentile over annotators.",
                [
                    (
                        "histogram_quantile(0.9, sum by (le) "
                        "(rate(alstream_router_hard_quota_use_ratio_bucket[1h])))",
                        "p90",
                    )
                ],
                unit="percentunit",
            ),
        ],
    )


def quality_calibration_and_drift() -> Group:
    return Group(
        "Quality, calibration and drift",
        [
            panel(
                "Disagreement rate vs baseline",
                "Disagreement on overlapped items, current window vs trailing baseline; "
                "a spike triggers calibration.",
                [
                    ("max(alstream_agreement_disagreement_rate)", "current"),
                    ("max(alstream_agreement_baseline_rate)", "baseline"),
                    ("max(alstream_agreement_spike)", "spike active"),
                ],
                unit="percentunit",
            ),
            panel(
                "Worst annotators' QA error (top 5)",
                "Rolling QA error of the annotators who need help most (a capped top-N).",
                [("topk(5, max by (annotator) (alstream_qa_annotator_error_rate))", "{{annotator}}")],
                unit="percentunit",
            ),
            panel(
                "Labels waiting for their assignment",
                "Labels held because their assignment has not been seen yet.",
                [("sum(alstream_labels_pending)", "pending")],
                width=6,
            ),
            panel(
                "Krippendorff's alpha",
                "Agreement beyond chance on overlapped items (1 = perfect).",
                [("max(alstream_agreement_krippendorff_alpha)", "alpha")],
                width=6,
            ),
            panel(
                "Calibration events, last 7 days",
                "Calibration sessions triggered by disagreement spikes.",
                [("sum(increase(alstream_calibration_events_total[7d]))", "events")],
                kind="stat",
                width=6,
            ),
            panel(
                "Drift (PSI of the random slice)",
                "Population stability index, week over week; over 0.2 is a shift.",
                [
                    ("max by (dimension) (alstream_scorer_drift_psi)", "{{dimension}}"),
                    ("max(alstream_scorer_domain_shift)", "shift active"),
                ],
                thresholds=[(0.2, "red")],
            ),
            panel(
                "Model failures by root cause, last 7 days",
                "Failures audited by root cause, not only by score.",
                [
                    (
                        "sum by (root_cause) (increase(alstream_model_failures_total[7d])) or on() vector(0)",
                        "{{root_cause}}",
                    )
                ],
            ),
        ],
    )


def releases_and_training() -> Group:
    return Group(
        "Releases and training",
        [
            panel(
                "Items in the latest release",
                "Size of the latest dataset release.",
                [("max(alstream_release_items)", "items")],
                kind="stat",
                width=6,
            ),
            panel(
                "Age of the latest release",
                "Time since the latest release was built (weekly cadence).",
                [("time() - max(alstream_release_last_timestamp_seconds)", "age")],
                unit="s",
                kind="stat",
                width=6,
                thresholds=[(8 * 86400, "red")],
            ),
            panel(
                "Training runs by outcome, last 7 days",
                "Models published vs refused by the validation gate.",
                [
                    (
                        "sum by (outcome) (increase(alstream_trainer_runs_total[7d])) or on() vector(0)",
                        "{{outcome}}",
                    )
                ],
            ),
            panel(
                "Model swaps",
                "Model versions hot-swapped into the scorer.",
                [("sum(increase(alstream_scorer_model_swaps_total[1d]))", "swaps per day")],
                width=12,
            ),
            loop_vs_random(),
        ],
    )


def loop_vs_random() -> Panel:
    """The trainer's online proof (agents/trainer/online.py): on held-out random-slice labels, the loop's
    committee against one trained on as many random labels, and the served model, week by week."""
    return panel(
        "Loop vs random (held-out random-slice labels)",
        "Primary metric on production labels the models never trained on: the loop's first K labels vs K "
        "random-slice labels, and the served model. A loop below random for two weeks raises "
        "AlstreamLoopNotBeatingRandom.",
        [
            ('max by (arm) (alstream_trainer_online_metric{arm=~"loop|random"})', "{{arm}}"),
            ('max(alstream_trainer_online_metric{arm="served"})', "served model"),
            ("max(alstream_trainer_online_advantage)", "loop - random"),
        ],
        unit="percentunit",
        width=24,
        time_from="8w",
    )


def label_studio_bridge() -> Group:
    """The Label Studio bridge: work flowing into the queues, answers flowing out, and how late."""
    return Group(
        "Label Studio bridge",
        [
            panel(
                "Tasks imported and removed per hour",
                "Assignments imported as Label Studio tasks (found: already there after a restart), and "
                "unanswered tasks taken out of queues (lease expired, annotator offline).",
                [
                    (
                        "sum by (outcome) (increase(alstream_label_studio_tasks_imported_total[1h]))",
                        "imported {{outcome}}",
                    ),
                    (
                        "sum by (reason) (increase(alstream_label_studio_tasks_removed_total[1h])) "
                        "or on() vector(0)",
                        "removed {{reason}}",
                    ),
                ],
                width=6,
            ),
            panel(
                "Annotations read per hour",
                "Annotation versions turned into labels (label, edit, skip) or dead-lettered (rejected).",
                [
                    (
                        "sum by (outcome) (increase(alstream_label_studio_annotations_read_total[1h]))",
                        "{{outcome}}",
                    )
                ],
                width=8,
            ),
            panel(
                "Annotation to label lag (p50, p99)",
                "From an annotation's save in Label Studio to its label acknowledged by the broker.",
                [
                    (
                        "histogram_quantile(0.5, sum by (le) "
                        f"(rate(alstream_label_studio_annotation_lag_seconds_bucket[{RATE}])))",
                        "lag p50",
                    ),
                    (
                        "histogram_quantile(0.99, sum by (le) "
                        f"(rate(alstream_label_studio_annotation_lag_seconds_bucket[{RATE}])))",
                        "lag p99",
                    ),
                ],
                unit="s",
                width=6,
            ),
            panel(
                "Queues",
                "Open tasks in the annotators' queues and annotators present in Label Studio.",
                [
                    ("sum(alstream_label_studio_queue_tasks)", "open tasks"),
                    ("sum by (state) (alstream_label_studio_annotators)", "annotators {{state}}"),
                ],
                width=6,
            ),
        ],
    )


# ---- alstream / SRE: throughput, latency, lag, errors and restarts ------------------------------------


def availability() -> Group:
    return Group(
        "Availability",
        [
            panel(
                "Targets up by job",
                "Scraped instances answering, by agent job.",
                [('sum by (job) (up{job=~"alstream-.*"})', "{{job}}")],
                width=8,
            ),
            panel(
                "Processing loop up",
                "1 while the agent's loop runs (min over replicas).",
                [("min by (agent) (alstream_agent_up)", "{{agent}}")],
                width=8,
            ),
            panel(
                "Seconds since last progress",
                "Time since each agent's last loop step; an alert fires past 300 s.",
                [("max by (agent) (time() - alstream_agent_last_progress_timestamp_seconds)", "{{agent}}")],
                unit="s",
                width=8,
                thresholds=[(300, "red")],
            ),
        ],
    )


def throughput_and_latency() -> Group:
    return Group(
        "Throughput and latency",
        [
            panel(
                "Records consumed per second",
                "Throughput by agent and topic.",
                [
                    (
                        f"sum by (agent, topic) (rate(alstream_agent_records_total[{RATE}]))",
                        "{{agent}} {{topic}}",
                    )
                ],
                unit="ops",
            ),
            panel(
                "Items scored per second",
                "Scorer throughput by selection signal.",
                [(f"sum by (signal) (rate(alstream_scorer_items_scored_total[{RATE}]))", "{{signal}}")],
                unit="ops",
            ),
            panel(
                "Batch latency by agent (p50, p99)",
                "From a batch's arrival to its outputs being delivered.",
                [
                    (
                        "histogram_quantile(0.5, sum by (le, agent) "
                        f"(rate(alstream_agent_batch_duration_seconds_bucket[{RATE}])))",
                        "p50 {{agent}}",
                    ),
                    (
                        "histogram_quantile(0.99, sum by (le, agent) "
                        f"(rate(alstream_agent_batch_duration_seconds_bucket[{RATE}])))",
                        "p99 {{agent}}",
                    ),
                ],
                unit="s",
            ),
            panel(
                "Scorer batch latency (p50, p99)",
                "Decode + score + produce of one scorer batch.",
                [
                    (
                        "histogram_quantile(0.5, sum by (le) "
                        f"(rate(alstream_scorer_batch_duration_seconds_bucket[{RATE}])))",
                        "p50",
                    ),
                    (
                        "histogram_quantile(0.99, sum by (le) "
                        f"(rate(alstream_scorer_batch_duration_seconds_bucket[{RATE}])))",
                        "p99",
                    ),
                ],
                unit="s",
            ),
            panel(
                "Ready to assignment (p50, p99)",
                "Router: an annotator's ready event to the assignment being produced.",
                [
                    (
                        "histogram_quantile(0.5, sum by (le) "
                        f"(rate(alstream_router_ready_to_assignment_seconds_bucket[{RATE}])))",
                        "p50",
                    ),
                    (
                        "histogram_quantile(0.99, sum by (le) "
                        f"(rate(alstream_router_ready_to_assignment_seconds_bucket[{RATE}])))",
                        "p99",
                    ),
                ],
                unit="s",
            ),
            panel(
                "Consumer lag",
                "Messages not yet consumed, by agent and topic.",
                [("sum by (agent, topic) (alstream_consumer_lag_messages)", "{{agent}} {{topic}}")],
            ),
        ],
    )


def errors() -> Group:
    return Group(
        "Errors",
        [
            panel(
                "Dead letters per second",
                "Records dead-lettered, by agent, source topic and error class (0 when none).",
                [
                    (
                        "sum by (agent, source_topic, error_class) "
                        f"(rate(alstream_dead_letters_total[{RATE}])) or on() vector(0)",
                        "{{agent}} {{source_topic}} {{error_class}}",
                    )
                ],
                unit="ops",
            ),
            panel(
                "Recovered errors per second",
                "Errors agents retried through, by class (0 when none).",
                [
                    (
                        "sum by (agent, error_class) "
                        f"(rate(alstream_agent_errors_total[{RATE}])) or on() vector(0)",
                        "{{agent}} {{error_class}}",
                    )
                ],
                unit="ops",
            ),
            panel(
                "Batch retries per second",
                "Batches replayed after a failed delivery (0 when none).",
                [
                    (
                        f"sum by (agent) (rate(alstream_agent_batch_retries_total[{RATE}])) "
                        "or on() vector(0)",
                        "{{agent}}",
                    )
                ],
                unit="ops",
                width=8,
            ),
            panel(
                "Lease expiries per hour",
                "Assignments whose lease expired and went back to the pool.",
                [("sum(increase(alstream_router_lease_expiries_total[1h]))", "expiries")],
                width=8,
            ),
            panel(
                "Rejected labels per hour",
                "Invalid labels (also dead-lettered), by reason (0 when none).",
                [
                    (
                        "sum by (reason) (increase(alstream_labels_rejected_total[1h])) or on() vector(0)",
                        "{{reason}}",
                    )
                ],
                width=8,
            ),
        ],
    )


def processes() -> Group:
    return Group(
        "Processes",
        [
            panel(
                "Restarts, last hour",
                "Process restarts by job (changes of process_start_time_seconds).",
                [('sum by (job) (changes(process_start_time_seconds{job=~"alstream-.*"}[1h]))', "{{job}}")],
                width=8,
            ),
            panel(
                "CPU",
                "CPU seconds per second by job.",
                [
                    (
                        f'sum by (job) (rate(process_cpu_seconds_total{{job=~"alstream-.*"}}[{RATE}]))',
                        "{{job}}",
                    )
                ],
                width=8,
            ),
            panel(
                "Resident memory",
                "Resident memory by job.",
                [('sum by (job) (process_resident_memory_bytes{job=~"alstream-.*"})', "{{job}}")],
                unit="bytes",
                width=8,
            ),
        ],
    )


def operations() -> dict[str, Any]:
    return dashboard(
        "alstream-operations",
        "alstream / Operations",
        "The guide's weekly numbers and the active-learning loop's health, "
        "for the labeling lead and the ML owner.",
        "now-7d",
        [
            guide_numbers(),
            selection_and_routing(),
            quality_calibration_and_drift(),
            releases_and_training(),
            label_studio_bridge(),
        ],
    )


def sre() -> dict[str, Any]:
    return dashboard(
        "alstream-sre",
        "alstream / SRE",
        "Throughput, latency, lag, errors and restarts of the alstream agents.",
        "now-6h",
        [availability(), throughput_and_latency(), errors(), processes()],
    )


#: file name in grafana/dashboards -> the function that builds it
DASHBOARDS: dict[str, Callable[[], dict[str, Any]]] = {"operations.json": operations, "sre.json": sre}


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for name, build in DASHBOARDS.items():
        path = OUT / name
        path.write_text(json.dumps(build(), indent=2, sort_keys=True) + "\n")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
