"""Alert rules, dashboard panels and promtool test series against what the running agents export.

A rule that selects ``kind="random"`` while the router exports ``kind="RANDOM"`` never fires, and a
promtool test fed the same wrong value passes: only a scrape of the real exporters tells. The agents
here are the real ones (conftest.py), each /metrics page is scraped directly, and every vector
selector of every rule and panel must select at least one exported series; every promtool input
series must be shaped like an exported one (same name, label names and label values).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from alstream.observability.dashboards import panel_queries
from alstream.observability.exposition import Exposition, parse_series, scrape
from alstream.observability.naming import parse_metrics_doc
from alstream.observability.promql import Selector, selectors
from alstream.observability.rule_files import promtool_input_series, rule_selectors
from tests.support.live_stack import REPO, TRAFFIC_BUDGET_S, Stack, served_by_the_stack
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow, pytest.mark.prometheus]

RULES = REPO / "deploy" / "prometheus" / "rules"
PROMTOOL_TESTS = REPO / "deploy" / "prometheus" / "tests"
DASHBOARDS = REPO / "grafana" / "dashboards"


def _scrape(stack: Stack) -> Exposition:
    """Every agent's /metrics once, with the target labels production's Prometheus adds."""
    stack.check_alive()
    exposition = Exposition()
    for name, port in stack.ports.items():
        address = f"127.0.0.1:{port}"
        exposition.add_scrape(
            scrape(f"http://{address}/metrics"),
            job=f"alstream-{name}",
            instance=address,
            topic_prefix=stack.topic_prefix,
        )
    return exposition


def _wait_for_all(stack: Stack, check: Callable[[Exposition], dict[str, Any]]) -> dict[str, Any]:
    """Label values appear with traffic (a random-slice assignment, a release): wait for the last one
    within the stack's traffic budget, then return what is still missing (empty when all arrived)."""
    last: dict[str, Any] = {}

    def settled() -> bool:
        nonlocal last
        last = check(_scrape(stack))
        return not last

    remaining = max(10.0, stack.started + TRAFFIC_BUDGET_S - time.monotonic())
    try:
        wait_until(settled, timeout_s=remaining, interval_s=2.0, what="every selector to find a series")
    except AssertionError:
        return last
    return {}


def test_every_rule_and_panel_selects_what_the_agents_export(released: Stack) -> None:
    wanted: dict[str, list[Selector]] = {
        **rule_selectors(RULES),
        **{
            query.label: selectors(query.expr)
            for query in panel_queries(DASHBOARDS)
            if served_by_the_stack(query.expr)
        },
    }

    def unmatched(exposition: Exposition) -> dict[str, list[str]]:
        missing = {}
        for where, found in wanted.items():
            selected_nothing = [str(s) for s in found if not exposition.finds(s)]
            if selected_nothing:
                missing[where] = selected_nothing
        return missing

    missing = _wait_for_all(released, unmatched)
    assert not missing, "selectors that select nothing the running agents export:\n" + "\n".join(
        f"  {where}: {', '.join(found)}" for where, found in sorted(missing.items())
    )


def test_promtool_input_series_are_shaped_like_the_exported_ones(released: Stack) -> None:
    written = promtool_input_series(PROMTOOL_TESTS)
    documented = {
        series: spec.labels
        for spec in parse_metrics_doc(REPO / "docs" / "metrics.md").values()
        for series in ([spec.name] if spec.type != "histogram" else [spec.name + "_bucket"])
    }

    def problems(exposition: Exposition) -> dict[str, list[str]]:
        found = {}
        for text, where in written.items():
            series = parse_series(text)
            wrong = exposition.shape_problems(series.name, series.labels, documented=documented)
            if wrong:
                found[f"{where}: {text}"] = wrong
        return found

    missing = _wait_for_all(released, problems)
    assert not missing, "promtool input series unlike anything exported:\n" + "\n".join(
        f"  {where}\n    " + "\n    ".join(why) for where, why in sorted(missing.items())
    )
