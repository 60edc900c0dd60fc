"""The Grafana dashboards and provisioning files: loadable as they are, and on the metric contract."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from alstream.observability.dashboards import load_dashboards, panel_queries, panels
from alstream.observability.naming import STANDARD_NAMES, exposed_index, parse_metrics_doc
from alstream.observability.promql import metric_names, substitute_grafana_variables


@pytest.fixture(scope="module")
def boards(repo: Path) -> dict[str, dict]:
    found = load_dashboards(repo / "grafana" / "dashboards")
    assert set(found) >= {"operations.json", "sre.json"}
    return found


@pytest.fixture(scope="module")
def datasource_uid(repo: Path) -> str:
    files = sorted((repo / "grafana" / "provisioning" / "datasources").glob("*.yaml"))
    assert files, "no datasource provisioning file"
    config = yaml.safe_load(files[0].read_text())
    assert config["apiVersion"] == 1
    (source,) = config["datasources"]
    assert source["type"] == "prometheus" and source["url"].startswith("http")
    return source["uid"]


def test_dashboard_provider_points_at_the_mounted_dashboards(repo: Path) -> None:
    (path,) = (repo / "grafana" / "provisioning" / "dashboards").glob("*.yaml")
    config = yaml.safe_load(path.read_text())
    assert config["apiVersion"] == 1
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    compose = yaml.safe_load((repo / "deploy" / "compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert any(
        m.endswith(":" + provider["options"]["path"] + ":ro") and "grafana/dashboards" in m for m in mounts
    )


def test_dashboards_are_grafana_shaped(boards: dict[str, dict], datasource_uid: str) -> None:
    uids = set()
    for name, board in boards.items():
        assert board["uid"] and len(board["uid"]) <= 40, name
        assert board["title"].startswith("alstream / "), name
        assert isinstance(board["schemaVersion"], int)
        uids.add(board["uid"])
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"
        for panel in panels(board):
            where = f"{name} / {panel.get('title')}"
            assert panel["title"] and panel["type"] in {"timeseries", "stat", "gauge", "table", "bargauge"}, (
                where
            )
            assert (
                set(panel["gridPos"]) == {"h", "w", "x", "y"}
                and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
            )
            assert panel["datasource"]["uid"] == datasource_uid, where
            assert panel["targets"], f"{where}: no query"
            for target in panel["targets"]:
                assert target["expr"].strip(), where
                assert target["datasource"]["uid"] == datasource_uid, where
            ref_ids = [t["refId"] for t in panel["targets"]]
            assert len(ref_ids) == len(set(ref_ids)), where
    assert len(uids) == len(boards)


def test_operations_dashboard_shows_the_guides_numbers(boards: dict[str, dict]) -> None:
    used = {
        n for p in panels(boards["operations.json"]) for t in p["targets"] for n in metric_names(t["expr"])
    }
    for name in (
        "alstream_labels_total",
        "alstream_label_time_per_item_seconds_bucket",
        "alstream_qa_errors_total",
        "alstream_model_validation_metric",
        "alstream_router_pool_depth",
        "alstream_agreement_disagreement_rate",
        "alstream_scorer_random_slice_share",
        "alstream_router_annotators_at_quota",
    ):
        assert name in used, name


def test_sre_dashboard_covers_throughput_latency_lag_errors_restarts(boards: dict[str, dict]) -> None:
    used = {n for p in panels(boards["sre.json"]) for t in p["targets"] for n in metric_names(t["expr"])}
    for name in (
        "alstream_agent_records_total",
        "alstream_agent_batch_duration_seconds_bucket",
        "alstream_consumer_lag_messages",
        "alstream_dead_letters_total",
        "alstream_agent_errors_total",
        "process_start_time_seconds",
        "up",
    ):
        assert name in used, name


def test_every_query_uses_only_documented_metrics(repo: Path) -> None:
    known = set(exposed_index(parse_metrics_doc(repo / "docs" / "metrics.md"))) | STANDARD_NAMES
    queries = panel_queries(repo / "grafana" / "dashboards")
    assert len(queries) > 20
    unknown = {q.label: sorted(metric_names(q.expr) - known) for q in queries if metric_names(q.expr) - known}
    assert not unknown, f"queries with metrics missing from docs/metrics.md: {unknown}"
    assert all(metric_names(q.expr) for q in queries), "a query that selects no metric"


def test_committed_json_matches_the_builder(repo: Path) -> None:
    """grafana/build_dashboards.py (grafana-foundation-sdk) is the source; the JSON never drifts from it."""
    spec = importlib.util.spec_from_file_location(
        "build_dashboards", repo / "grafana" / "build_dashboards.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    committed = {path.name for path in (repo / "grafana" / "dashboards").glob("*.json")}
    assert committed == set(module.DASHBOARDS), "a dashboard file the builder does not make, or the reverse"
    for name, build in module.DASHBOARDS.items():
        path = repo / "grafana" / "dashboards" / name
        assert json.loads(path.read_text()) == build(), (
            f"{path} is stale: run python grafana/build_dashboards.py"
        )


@pytest.mark.prometheus
def test_every_query_is_valid_promql(repo: Path, promtool: str, tmp_path: Path) -> None:
    """promtool parses each query as a recording rule: a syntax error fails here, not in Grafana."""
    queries = panel_queries(repo / "grafana" / "dashboards")
    rules = [
        {"record": f"panel:query_{i}", "expr": substitute_grafana_variables(q.expr)}
        for i, q in enumerate(queries)
    ]
    path = tmp_path / "panels.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout
