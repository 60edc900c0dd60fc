"""The alert rules: valid for Prometheus, unit-tested with promtool, documented, and on-contract."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from alstream.observability.naming import STANDARD_NAMES, exposed_index, parse_metrics_doc
from alstream.observability.promql import metric_names

pytestmark = pytest.mark.prometheus

# The situations an operator must hear about: each must have an alert.
REQUIRED_ALERTS = {
    "AlstreamLoopBroken",  # labels per week dropping while QA error rises
    "AlstreamDisagreementSpike",
    "AlstreamRandomSliceBelowFloor",
    "AlstreamDeadLetters",
    "AlstreamScorerFallingBehind",
    "AlstreamNoLabels",
    "AlstreamAnnotatorsSaturated",
    "AlstreamAgentDown",
}


def _run(promtool: str, *args: str, cwd: Path) -> str:
    result = subprocess.run(
        [promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"promtool {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _rules(repo: Path) -> list[dict]:
    rules = []
    for path in sorted((repo / "deploy" / "prometheus" / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules.extend(group["rules"])
    return rules


def test_promtool_check_rules(promtool: str, repo: Path) -> None:
    out = _run(
        promtool, "check", "rules", *map(str, (repo / "deploy/prometheus/rules").glob("*.yml")), cwd=repo
    )
    assert "SUCCESS" in out


def test_promtool_check_config(promtool: str, repo: Path) -> None:
    out = _run(promtool, "check", "config", "prometheus.yml", cwd=repo / "deploy" / "prometheus")
    assert "is valid prometheus config file" in out


PROMTOOL_TESTS = sorted(
    p.name
    for p in (Path(__file__).resolve().parents[3] / "deploy" / "prometheus" / "tests").glob("*.test.yml")
)


@pytest.mark.parametrize("test_file", PROMTOOL_TESTS)
def test_promtool_test_rules(promtool: str, repo: Path, test_file: str) -> None:
    out = _run(promtool, "test", "rules", test_file, cwd=repo / "deploy" / "prometheus" / "tests")
    assert "SUCCESS" in out


def test_every_alert_has_a_promtool_test(repo: Path) -> None:
    tested = set()
    for path in (repo / "deploy" / "prometheus" / "tests").glob("*.yml"):
        for case in yaml.safe_load(path.read_text())["tests"]:
            tested |= {a["alertname"] for a in case.get("alert_rule_test", []) if a["exp_alerts"]}
    alerts = {rule["alert"] for rule in _rules(repo) if "alert" in rule}
    assert alerts >= REQUIRED_ALERTS
    assert alerts - tested == set(), "alerts never shown firing in a promtool test"


def test_alerts_are_documented_and_labelled(repo: Path) -> None:
    doc = (repo / "docs" / "alerts.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in re.findall(r"^#+ (.+)$", doc, re.M)
    }
    problems = []
    for rule in _rules(repo):
        if "alert" not in rule:
            continue
        name = rule["alert"]
        if rule.get("labels", {}).get("severity") not in {"page", "ticket"}:
            problems.append(f"{name}: severity must be page or ticket")
        for key in ("summary", "description", "runbook_url"):
            if not rule.get("annotations", {}).get(key):
                problems.append(f"{name}: no {key} annotation")
        anchor = rule.get("annotations", {}).get("runbook_url", "").partition("#")[2]
        if anchor not in anchors:
            problems.append(f"{name}: runbook anchor #{anchor} is not a heading of docs/alerts.md")
    assert not problems, "\n".join(problems)


def test_rules_use_only_documented_metrics(repo: Path) -> None:
    known = set(exposed_index(parse_metrics_doc(repo / "docs" / "metrics.md"))) | STANDARD_NAMES
    used = {name for rule in _rules(repo) for name in metric_names(rule["expr"])}
    assert "alstream_labels_total" in used
    assert used - known == set(), "rules use metrics missing from docs/metrics.md"
