"""A real Prometheus scrapes a running alstream stack on loopback; every dashboard panel must show data.

The stack (conftest.py) is what an operator runs. Each panel query runs as Grafana would (a range
query, ``$__rate_interval`` = 1m) and must return a real point.
"""

from __future__ import annotations

import pytest

from alstream.observability.dashboards import PanelQuery, panel_queries
from alstream.observability.prometheus_server import PrometheusServer
from alstream.observability.promql import metric_names, substitute_grafana_variables
from tests.support.live_stack import REPO, Stack, served_by_the_stack
from tests.support.waiting import wait_until

pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.broker,
    pytest.mark.slow,
]


def test_prometheus_scrapes_every_agent_as_up(stack: Stack, prometheus: PrometheusServer) -> None:
    assert stack.ports, "no agent could be started"
    expected = {f"alstream-{name}": 1.0 for name in stack.ports}

    def up() -> dict[str, float]:
        stack.check_alive()
        return {s["metric"]["job"]: float(s["value"][1]) for s in prometheus.query('up{job=~"alstream-.*"}')}

    wait_until(
        lambda: up() == expected,
        timeout_s=60,
        interval_s=1,
        what=f"up == 1 for {sorted(expected)}",
        diagnose=lambda: f"up: {up()}\n{prometheus.log_tail()}",
    )
    info = {s["metric"]["job"] for s in prometheus.query("alstream_build_info")}
    assert info == set(expected), "every agent exposes alstream_build_info"


def test_alert_rules_load_and_evaluate(prometheus: PrometheusServer) -> None:
    groups = prometheus.api("rules")["groups"]
    assert {g["name"] for g in groups} == {"alstream-loop", "alstream-sre"}

    def rules() -> list[dict]:
        return [rule for g in prometheus.api("rules")["groups"] for rule in g["rules"]]

    def evaluated() -> list[dict] | None:
        current = rules()
        done = all(r.get("lastEvaluation", "").startswith("20") and r["health"] != "unknown" for r in current)
        return current if done else None

    evaluated_rules = wait_until(
        evaluated,
        timeout_s=20,
        interval_s=1,
        what="every rule evaluated once",
        diagnose=lambda: str([(r["name"], r["health"], r.get("lastEvaluation")) for r in rules()]),
    )
    assert [(r["name"], r.get("lastError")) for r in evaluated_rules if r["health"] != "ok"] == []


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
    missing = dict(LOOP_EVIDENCE)

    def turned() -> bool:
        released.check_alive()
        for what, expr in list(missing.items()):
            if prometheus.query(expr):
                del missing[what]
        return not missing

    wait_until(
        turned,
        timeout_s=released.budget_left(),
        interval_s=2,
        what="evidence that the loop turned",
        diagnose=lambda: f"never seen: {sorted(missing)}",
    )


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

    def shown() -> bool:
        if prometheus.has_data(expr):
            return True
        released.check_alive()
        return False

    def present() -> str:
        return str({name: bool(prometheus.query(f"count({name})")) for name in sorted(metric_names(expr))})

    wait_until(
        shown,
        timeout_s=released.budget_left(),
        interval_s=2,
        what=f"{panel.label} to show data for {expr}",
        diagnose=lambda: f"metrics present: {present()}",
    )
