"""The Operations dashboard's Label Studio panels, evaluated by a real Prometheus scraping a real bridge.

Each panel query runs as Grafana would (a range query, ``$__rate_interval`` = 1m) and must return a
point, once a person has answered, skipped and edited through Label Studio.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alstream.agents.label_studio.local_server import LocalLabelStudio
from alstream.observability.dashboards import panel_queries
from alstream.observability.prometheus_server import PrometheusServer, prometheus_binary, scrape_config
from alstream.observability.promql import metric_names, substitute_grafana_variables
from alstream.settings import AlstreamSettings
from alstream.streams.embedded_broker import free_port
from tests.support.label_studio import (
    ANNOTATOR_PASSWORD,
    CLASSES,
    PersonSession,
    bridge_environment,
    decoded,
    log_tail,
    produce_assignments,
    project_tasks,
    start_bridge,
    stop_bridge,
    work,
)
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.prometheus, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[3]


def test_every_label_studio_panel_shows_data(
    topics: AlstreamSettings, label_studio: LocalLabelStudio, tmp_path: Path, unique_id: str
) -> None:
    if prometheus_binary() is None:
        pytest.skip("prometheus not installed (apt-get install prometheus); CI installs it in .ci/run")
    queries = [
        q
        for q in panel_queries(REPO / "grafana" / "dashboards")
        if all(name.startswith("alstream_label_studio_") for name in metric_names(q.expr))
    ]
    assert len(queries) >= 4, "the Operations dashboard lost its Label Studio panels"
    who = f"p-{unique_id}"
    port = free_port()
    env = bridge_environment(
        topics,
        label_studio,
        annotators=[who],
        state_dir=tmp_path / "state",
        task_name=f"panels-{unique_id}",
        classes=CLASSES,
        ALSTREAM_METRICS__PORT=str(port),
    )
    produce_assignments(topics, [work(f"pa-{n}", who, n) for n in range(3)])
    log = tmp_path / "bridge.log"
    bridge = start_bridge(env, log)
    config = scrape_config({"alstream-label-studio": [f"127.0.0.1:{port}"]}, rule_files=[])
    try:
        with PrometheusServer(config, tmp_path / "prometheus", free_port()) as prometheus:
            tasks = wait_until(
                lambda: (
                    (found := project_tasks(label_studio, f"alstream: panels-{unique_id}"))
                    and len(found) == 3
                    and found
                ),
                timeout_s=60,
                what="three tasks",
                diagnose=lambda: log_tail(log),
            )
            # Rates need a scrape before the answers: counters seen only after they moved never "increase".
            wait_until(
                lambda: prometheus.query("alstream_label_studio_queue_tasks"),
                timeout_s=60,
                what="Prometheus scraping the bridge",
                diagnose=prometheus.log_tail,
            )
            person = PersonSession(label_studio, email=f"{who}@alstream.local", password=ANNOTATOR_PASSWORD)
            try:
                first = person.annotate(tasks[0]["id"], "cat", lead_time=0.2)
                person.skip(tasks[1]["id"], lead_time=0.1)
                wait_until(lambda: len(decoded(topics, "labels")) >= 2, timeout_s=60, what="two labels")
                person.edit(first["id"], "dog", lead_time=0.4)
            finally:
                person.close()
            for query in queries:
                expr = substitute_grafana_variables(query.expr)
                wait_until(
                    lambda expr=expr: prometheus.has_data(expr),
                    timeout_s=90,
                    interval_s=2,
                    what=f"data for {query.label}: {expr}",
                    diagnose=lambda: log_tail(log) + "\n" + prometheus.log_tail(),
                )
            assert json.loads(env["ALSTREAM_LABEL_STUDIO__ANNOTATORS"]) == [who]
    finally:
        assert stop_bridge(bridge) == 0, log_tail(log)
