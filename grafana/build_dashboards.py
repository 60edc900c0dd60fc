"""Writes grafana/dashboards/*.json from the compact panel lists below.

Grafana's JSON is long and repetitive; keeping the dashboards as data here makes every query easy to
review against docs/metrics.md. Run ``python grafana/build_dashboards.py`` after editing; a unit test
fails if the committed JSON differs from what this script writes. Every query uses only metrics from
docs/metrics.md, and ``$__rate_interval`` is the only Grafana variable (the live test replaces it).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

DATASOURCE = {"type": "prometheus", "uid": "alstream-prometheus"}
OUT = Path(__file__).resolve().parent / "dashboards"


@dataclass
class Panel:
    title: str
    description: str
    targets: list[tuple[str, str]]  # (expr, legend)
    unit: str = "short"
    kind: str = "timeseries"
    width: int = 12
    height: int = 8
    thresholds: list[tuple[float, str]] = field(default_factory=list)
    time_from: str = ""  # a panel-wide range over the dashboard's, e.g. "8w" for a week-by-week view


@dataclass
class Row:
    title: str


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict:
    steps = [{"color": "green", "value": None}] + [{"color": c, "value": v} for v, c in panel.thresholds]
    options: dict = {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    if panel.kind == "stat":
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "area",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "auto",
        }
    return {
        **({"timeFrom": panel.time_from} if panel.time_from else {}),
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {
            "defaults": {"unit": panel.unit, "thresholds": {"mode": "absolute", "steps": steps}},
            "overrides": [],
        },
        "options": options,
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DATASOURCE,
                "expr": expr,
                "legendFormat": legend,
                "range": True,
                "instant": False,
            }
            for i, (expr, legend) in enumerate(panel.targets)
        ],
    }


def dashboard(uid: str, title: str, description: str, items: list[Panel | Row], time_from: str) -> dict:
    panels, panel_id, x, y, row_height = [], 1, 0, 0, 0
    for item in items:
        if isinstance(item, Row):
            y += row_height
            x, row_height = 0, 0
            panels.append(
                {
                    "id": panel_id,
                    "type": "row",
                    "title": item.title,
                    "collapsed": False,
                    "panels": [],
                    "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                }
            )
            y += 1
        else:
            if x + item.width > 24:
                x, y, row_height = 0, y + row_height, 0
            panels.append(_panel_json(item, panel_id, x, y))
            x += item.width
            row_height = max(row_height, item.height)
        panel_id += 1
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["alstream"],
        "timezone": "utc",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "1m",
        "time": {"from": time_from, "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "links": [],
        "panels": panels,
    }


RATE = "$__rate_interval"


def loop_vs_random_panel() -> Panel:
    """The trainer's online proof (agents/trainer/online.py): on held-out random-slice labels, the loop's
    committee against one trained on as many random labels, and the served model, week by week."""
    return Panel(
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

OPERATIONS = dashboard(
    "alstream-operations",
    "alstream / Operations",
    "The guide's weekly numbers and the active-learning loop's health, "
    "for the labeling lead and the ML owner.",
    [
        Row("The guide's four numbers"),
        Panel(
            "Labels, last 7 days",
            "Labels accepted in the last 7 days. If this drops while QA errors rise, the loop is broken.",
            [("sum(increase(alstream_labels_total[7d]))", "labels")],
            kind="stat",
            width=6,
        ),
        Panel(
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
        Panel(
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
        Panel(
            "Validation metric (serving model)",
            "The serving model's metric on the fixed validation set.",
            [("max by (model_name) (alstream_model_validation_metric)", "{{model_name}}")],
            unit="percentunit",
            kind="stat",
            width=6,
        ),
        Panel(
            "Labels per day by kind",
            "Accepted labels per day, by assignment kind.",
            [("sum by (kind) (increase(alstream_labels_total[1d]))", "{{kind}}")],
        ),
        Panel(
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
        Panel(
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
        Panel(
            "Validation metric over time",
            "Serving model vs the latest trained model, on the fixed validation set.",
            [
                ("max by (model_name) (alstream_model_validation_metric)", "serving {{model_name}}"),
                ("max(alstream_trainer_validation_metric)", "latest trained"),
            ],
            unit="percentunit",
        ),
        Row("Selection and routing"),
        Panel(
            "Random-slice share",
            "Share of assignments from the fixed random slice (floor 10%), and the scorer's slice share.",
            [
                (
                    '(sum(increase(alstream_router_assignments_total{kind="random"}[1h])) or on() vector(0)) '
                    "/ sum(increase(alstream_router_assignments_total[1h]))",
                    "assignments",
                ),
                ("avg(alstream_scorer_random_slice_share)", "scored items"),
            ],
            unit="percentunit",
            thresholds=[(0.1, "green")],
        ),
        Panel(
            "Assignments per hour by kind",
            "Work handed to annotators: hard, normal, random, qa, overlap, calibration.",
            [("sum by (kind) (increase(alstream_router_assignments_total[1h]))", "{{kind}}")],
        ),
        Panel(
            "Candidate pool depth",
            "Candidates waiting for an annotator, by why they were selected.",
            [("sum by (reason) (alstream_router_pool_depth)", "{{reason}}")],
        ),
        Panel(
            "Candidates per hour by reason",
            "What the scorer sends to the router: top scores, random slice, QA gold, shift review.",
            [("sum by (reason) (increase(alstream_scorer_candidates_total[1h]))", "{{reason}}")],
        ),
        Panel(
            "Pool removals per hour by reason",
            "Candidates that left the pool unassigned (aged out, evicted, refreshed).",
            [
                (
                    "sum by (reason) (increase(alstream_router_pool_removed_total[1h])) or on() vector(0)",
                    "{{reason}}",
                )
            ],
        ),
        Panel(
            "Quota use",
            "Annotators online and annotators at their daily hard-item quota.",
            [
                ("sum(alstream_router_annotators_online)", "online"),
                ("sum(alstream_router_annotators_at_quota)", "at quota"),
            ],
        ),
        Panel(
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
        Row("Quality, calibration and drift"),
        Panel(
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
        Panel(
            "Worst annotators' QA error (top 5)",
            "Rolling QA error of the annotators who need help most (a capped top-N).",
            [("topk(5, max by (annotator) (alstream_qa_annotator_error_rate))", "{{annotator}}")],
            unit="percentunit",
        ),
        Panel(
            "Labels waiting for their assignment",
            "Labels held because their assignment has not been seen yet.",
            [("sum(alstream_labels_pending)", "pending")],
            width=6,
        ),
        Panel(
            "Krippendorff's alpha",
            "Agreement beyond chance on overlapped items (1 = perfect).",
            [("max(alstream_agreement_krippendorff_alpha)", "alpha")],
            width=6,
        ),
        Panel(
            "Calibration events, last 7 days",
            "Calibration sessions triggered by disagreement spikes.",
            [("sum(increase(alstream_calibration_events_total[7d]))", "events")],
            kind="stat",
            width=6,
        ),
        Panel(
            "Drift (PSI of the random slice)",
            "Population stability index, week over week; over 0.2 is a shift.",
            [
                ("max by (dimension) (alstream_scorer_drift_psi)", "{{dimension}}"),
                ("max(alstream_scorer_domain_shift)", "shift active"),
            ],
            thresholds=[(0.2, "red")],
        ),
        Panel(
            "Model failures by root cause, last 7 days",
            "Failures audited by root cause, not only by score.",
            [
                (
                    "sum by (root_cause) (increase(alstream_model_failures_total[7d])) or on() vector(0)",
                    "{{root_cause}}",
                )
            ],
        ),
        Row("Releases and training"),
        Panel(
            "Items in the latest release",
            "Size of the latest dataset release.",
            [("max(alstream_release_items)", "items")],
            kind="stat",
            width=6,
        ),
        Panel(
            "Age of the latest release",
            "Time since the latest release was built (weekly cadence).",
            [("time() - max(alstream_release_last_timestamp_seconds)", "age")],
            unit="s",
            kind="stat",
            width=6,
            thresholds=[(8 * 86400, "red")],
        ),
        Panel(
            "Training runs by outcome, last 7 days",
            "Models published vs refused by the validation gate.",
            [
                (
                    "sum by (outcome) (increase(alstream_trainer_runs_total[7d])) or on() vector(0)",
                    "{{outcome}}",
                )
            ],
        ),
        Panel(
            "Model swaps",
            "Model versions hot-swapped into the scorer.",
            [("sum(increase(alstream_scorer_model_swaps_total[1d]))", "swaps per day")],
            width=12,
        ),
        loop_vs_random_panel(),
    ],
    "now-7d",
)

SRE = dashboard(
    "alstream-sre",
    "alstream / SRE",
    "Throughput, latency, lag, errors and restarts of the alstream agents.",
    [
        Row("Availability"),
        Panel(
            "Targets up by job",
            "Scraped instances answering, by agent job.",
            [('sum by (job) (up{job=~"alstream-.*"})', "{{job}}")],
            width=8,
        ),
        Panel(
            "Processing loop up",
            "1 while the agent's loop runs (min over replicas).",
            [("min by (agent) (alstream_agent_up)", "{{agent}}")],
            width=8,
        ),
        Panel(
            "Seconds since last progress",
            "Time since each agent's last loop step; an alert fires past 300 s.",
            [("max by (agent) (time() - alstream_agent_last_progress_timestamp_seconds)", "{{agent}}")],
            unit="s",
            width=8,
            thresholds=[(300, "red")],
        ),
        Row("Throughput and latency"),
        Panel(
            "Records consumed per second",
            "Throughput by agent and topic.",
            [(f"sum by (agent, topic) (rate(alstream_agent_records_total[{RATE}]))", "{{agent}} {{topic}}")],
            unit="ops",
        ),
        Panel(
            "Items scored per second",
            "Scorer throughput by selection signal.",
            [(f"sum by (signal) (rate(alstream_scorer_items_scored_total[{RATE}]))", "{{signal}}")],
            unit="ops",
        ),
        Panel(
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
        Panel(
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
        Panel(
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
        Panel(
            "Consumer lag",
            "Messages not yet consumed, by agent and topic.",
            [("sum by (agent, topic) (alstream_consumer_lag_messages)", "{{agent}} {{topic}}")],
        ),
        Row("Errors"),
        Panel(
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
        Panel(
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
        Panel(
            "Batch retries per second",
            "Batches replayed after a failed delivery (0 when none).",
            [
                (
                    f"sum by (agent) (rate(alstream_agent_batch_retries_total[{RATE}])) or on() vector(0)",
                    "{{agent}}",
                )
            ],
            unit="ops",
            width=8,
        ),
        Panel(
            "Lease expiries per hour",
            "Assignments whose lease expired and went back to the pool.",
            [("sum(increase(alstream_router_lease_expiries_total[1h]))", "expiries")],
            width=8,
        ),
        Panel(
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
        Row("Processes"),
        Panel(
            "Restarts, last hour",
            "Process restarts by job (changes of process_start_time_seconds).",
            [('sum by (job) (changes(process_start_time_seconds{job=~"alstream-.*"}[1h]))', "{{job}}")],
            width=8,
        ),
        Panel(
            "CPU",
            "CPU seconds per second by job.",
            [(f'sum by (job) (rate(process_cpu_seconds_total{{job=~"alstream-.*"}}[{RATE}]))', "{{job}}")],
            width=8,
        ),
        Panel(
            "Resident memory",
            "Resident memory by job.",
            [('sum by (job) (process_resident_memory_bytes{job=~"alstream-.*"})', "{{job}}")],
            unit="bytes",
            width=8,
        ),
    ],
    "now-6h",
)


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for board in (OPERATIONS, SRE):
        path = OUT / f"{board['uid'].removeprefix('alstream-')}.json"
        path.write_text(json.dumps(board, indent=2) + "\n")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
