"""A real Prometheus scrapes a running alstream stack on loopback; every dashboard panel must show data.

The stack is what an operator runs, as subprocesses: the embedded broker, the catalogue's topics, a
first model (``alstream train --seed-only``), every agent (``alstream agent NAME`` with its own
/metrics port), items (``alstream produce``), simulated annotators (``alstream annotate --auto``) and a
release (``alstream release build``) so the trainer retrains and the scorer swaps models. Prometheus
(Debian's binary) scrapes every second with the production alert rules loaded. Each panel query runs
as Grafana would (a range query, ``$__rate_interval`` = 1m) and must return a real point.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from alstream.demo import dataset
from alstream.demo.processes import Supervisor
from alstream.observability.dashboards import PanelQuery, panel_queries
from alstream.observability.prometheus_server import PrometheusServer, prometheus_binary, scrape_config
from alstream.observability.promql import metric_names, substitute_grafana_variables
from alstream.streams.embedded_broker import free_port

pytestmark = [
    pytest.mark.prometheus,
    pytest.mark.broker,
    pytest.mark.slow,
]

REPO = Path(__file__).resolve().parents[3]
AGENTS = ("scorer", "router", "labels", "agreement", "release", "trainer")
ANNOTATORS = (("ann-obs-1", "0.95"), ("ann-obs-2", "0.9"), ("ann-obs-3", "0.6"))
TRAFFIC_BUDGET_S = 150.0  # the whole wait for panels to fill, shared by every panel test


@dataclass
class Stack:
    supervisor: Supervisor
    ports: dict[str, int]
    data: dataset.DemoData
    workdir: Path
    started: float = field(default_factory=time.monotonic)

    def check_alive(self) -> None:
        for name in self.ports:
            process = self.supervisor.processes[name]
            if not process.running:
                pytest.fail(
                    f"agent {name} exited with {process.process.returncode}; log {process.log_file}:\n"
                    f"{process.tail(30)}"
                )


def _items_file(data: dataset.DemoData, path: Path) -> Path:
    with open(path, "w") as handle:
        for item_id, features in zip(data.stream_ids, data.stream_features, strict=True):
            record = {
                "item_id": item_id,
                "source": "observability-test",
                "unit_of_work": "ITEM",
                "embedding": [round(float(v), 6) for v in features],
            }
            handle.write(json.dumps(record) + "\n")
    return path


@pytest.fixture(scope="module")
def stack(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory, unique_module_id: str
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("obs-stack")
    data = dataset.prepare(workdir / "data")
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "ALSTREAM_KAFKA__TOPIC_PREFIX": f"obs{unique_module_id}.",
        "ALSTREAM_KAFKA__SESSION_TIMEOUT_MS": "6000",
        "ALSTREAM_TASK__NAME": "digits",
        "ALSTREAM_TASK__CLASSES": json.dumps(dataset.CLASSES),
        "ALSTREAM_PATHS__STATE_DIR": str(workdir / "state"),
        "ALSTREAM_PATHS__QA_GOLD_FILE": str(data.qa_gold_file),
        "ALSTREAM_TRAINER__VALIDATION_FILE": str(data.validation_file),
        "ALSTREAM_TRAINER__SEED_FILE": str(data.seed_file),
        # Per-annotator QA error shows after this many checks; the short run gives each annotator a few.
        "ALSTREAM_LABELS__QA_ANNOTATOR_MIN_CHECKS": "2",
        # The online proof (loop vs random panel) needs held-out random-slice labels; the short run has few.
        "ALSTREAM_TRAINER__ONLINE_MIN_EVAL_LABELS": "2",
        "PYTHONUNBUFFERED": "1",
    }
    for key, relative in (
        ("ALSTREAM_PATHS__POLICY_FILE", "policies/entropy.toml"),
        ("ALSTREAM_PATHS__QUOTAS_FILE", "quotas/default.toml"),
    ):
        env[key] = str(shutil.copy(REPO / relative, workdir / Path(relative).name))
    supervisor = Supervisor(log_dir=workdir / "logs", env=env)
    stack = Stack(supervisor=supervisor, ports={}, data=data, workdir=workdir)
    try:
        code = supervisor.run_to_completion("topics", ["topics", "create", "--partitions", "2"], timeout_s=60)
        assert code == 0, supervisor.processes["topics"].tail()
        code = supervisor.run_to_completion("initial-train", ["train", "--seed-only"], timeout_s=120)
        assert code == 0, f"train --seed-only failed:\n{supervisor.processes['initial-train'].tail(30)}"
        for name in AGENTS:
            stack.ports[name] = free_port()
            supervisor.start(name, ["agent", name], metrics_port=stack.ports[name])
        supervisor.start("produce", ["produce", str(_items_file(data, workdir / "items.jsonl"))])
        for annotator, accuracy in ANNOTATORS:
            supervisor.start(
                annotator,
                [
                    "annotate",
                    "--annotator",
                    annotator,
                    "--auto",
                    "--accuracy",
                    accuracy,
                    "--truth",
                    str(data.truth_file),
                ],
            )
        yield stack
    finally:
        supervisor.stop_all(grace_s=10.0)  # SIGTERM all at once, SIGKILL what is left after the grace


@pytest.fixture(scope="module")
def unique_module_id() -> str:
    import uuid

    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def prometheus(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    if prometheus_binary() is None:
        pytest.skip("prometheus not installed (apt-get install prometheus); CI installs it in .ci/run")
    targets = {f"alstream-{name}": [f"127.0.0.1:{port}"] for name, port in stack.ports.items()}
    rules = sorted((REPO / "deploy" / "prometheus" / "rules").glob("*.yml"))
    config = scrape_config(targets, rule_files=rules)
    with PrometheusServer(config, tmp_path_factory.mktemp("prometheus"), free_port()) as server:
        yield server


@pytest.fixture(scope="module")
def released(stack: Stack, prometheus: PrometheusServer) -> Stack:
    """Once labels flow, build a release so the release, trainer and model-swap panels get data."""
    deadline = stack.started + TRAFFIC_BUDGET_S / 2
    while time.monotonic() < deadline:
        stack.check_alive()
        # enough random-slice labels that some are held out for the trainer's online proof and some not
        if prometheus.query(
            'sum(alstream_labels_total) >= 30 and sum(alstream_labels_total{kind="random"}) >= 8'
        ):
            break
        time.sleep(2)
    # --request: the running release agent builds it, so its metrics move and the trainer retrains.
    stack.supervisor.start("release-build", ["release", "build", "--request"])
    return stack


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
    "panel", [pytest.param(q, id=q.label) for q in panel_queries(REPO / "grafana" / "dashboards")]
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
