"""A real Prometheus scrapes a running alstream stack on loopback; every dashboard panel must show data.

The stack (conftest.py) is what an operator runs. Each panel query runs as Grafana would (a range
query, ``$__rate_interval`` = 1m) and must return a real point.
"""

from __future__ import annotations

import time

import pytest

from alstream.observability.dashboards import PanelQuery, panel_queries
from alstream.observability.prometheus_server import PrometheusServer
from alstream.observability.promql import metric_names, substitute_grafana_variables
from tests.support.live_stack import REPO, TRAFFIC_BUDGET_S, Stack, served_by_the_stack

pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.broker,
    pytest.mark.slow,
]


def test_prometheus_scrapes_every_agent_as_up(stack: Stack, prometheus: PrometheusServer) -> None:
    assert stack.ports, "no agent could be started"
    deadline = time.monotonic() + 60
    up: dict[str, float] = {}
    while time.monotonic() < deadline:
        stack.check_alive()
        up = {s["metric"]["job"]: float(s["value"][1]) for s in prometheus.query('up{job=~"alstream-.*"}')}
        if len(up) == len(stack.ports) and all(v == 1 for v in up.values()):
            break
        time.sleep(1)
    assert up == {f"alstream-{name}": 1.0 for name in stack.ports}, prometheus.log_tail()
    info = {s["metric"]["job"] for s in prometheus.query("alstream_build_info")}
    assert info == set(up), "every agent exposes alstream_build_info"


def test_alert_rules_load_and_evaluate(prometheus: PrometheusServer) -> None:
    groups = prometheus.api("rules")["groups"]
    assert {g["name"] for g in groups} == {"alstream-loop", "alstream-sre"}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rules = [rule for g in prometheus.api("rules")["groups"] for rule in g["rules"]]
        if all(
            rule.get("lastEvaluation", "").startswith("20") and rule["health"] != "unknown" for rule in rules
        ):
            break
        time.sleep(1)
    assert [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []


# Proof that the loop turned, not only that series exist (a gauge at 0 would satisfy a panel).
LOOP_EVIDENCE = {
    "items scored": "sum(alstream_scorer_items_scored_total) > 0",
    "candidates emitted": "sum(alstream_scorer_candidates_total) > 0",
    "assignments made": "sum(alstream_router_assignments_total) > 0",
    "labels accepted": "sum(alstream_labels_total) > 0",
    "labels timed": "sum(alstream_label_time_per_item_seconds_count) > 0",
    "QA checks": "sum(alstream_qa_checks_total) > 0",
    "overlapped items closed": "sum(alstream_agreement_items_total) > 0",
    "serving model's validation metric": "max(alstream_model_validation_metric) > 0",
    "release built by the agent": "sum(alstream_releases_total) > 0",
    "release has items": "max(alstream_release_items) > 0",
    "trainer ran on the release": "sum(alstream_trainer_runs_total) > 0",
    "trainer measured the loop against random": "max(alstream_trainer_online_eval_labels) > 0",
}


def test_the_loop_turned(released: Stack, prometheus: PrometheusServer) -> None:
    deadline = released.started + TRAFFIC_BUDGET_S
    missing = dict(LOOP_EVIDENCE)
    while missing and time.monotonic() < deadline:
        released.check_alive()
        missing = {what: expr for what, expr in missing.items() if not prometheus.query(expr)}
        time.sleep(2)
    assert not missing, f"never seen: {sorted(missing)}"


AVAILABILITY_ALERTS = {
    "AlstreamAgentDown",
    "AlstreamAgentAbsent",
    "AlstreamAgentStalled",
    "AlstreamAgentRestarting",
}


def test_a_healthy_stack_raises_no_availability_alert(released: Stack, prometheus: PrometheusServer) -> None:
    released.check_alive()
    rules = [rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]]
    assert {rule["name"] for rule in rules} >= AVAILABILITY_ALERTS
    active = {
        (a["labels"]["alertname"], a["labels"].get("job", a["labels"].get("agent", "")))
        for a in prometheus.api("alerts")["alerts"]
        if a["labels"]["alertname"] in AVAILABILITY_ALERTS
    }
    assert active == set()


@pytest.mark.parametrize(
    "panel",
    [
        pytest.param(q, id=q.label)
        for q in panel_queries(REPO / "grafana" / "dashboards")
        if served_by_the_stack(q.expr)
    ],
)
def test_panel_query_returns_data(panel: PanelQuery, released: Stack, prometheus: PrometheusServer) -> None:
    expr = substitute_grafana_variables(panel.expr)
    deadline = released.started + TRAFFIC_BUDGET_S
    while True:
        if prometheus.has_data(expr):
            return
        if time.monotonic() > deadline:
            break
        released.check_alive()
        time.sleep(2)
    present = {name: bool(prometheus.query(f"count({name})")) for name in sorted(metric_names(expr))}
    pytest.fail(f"{panel.label}: no data for {expr}\nmetrics present: {present}")
