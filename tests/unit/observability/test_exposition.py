"""The exporter checks' own logic: reading selectors, scrapes and promtool series."""

from __future__ import annotations

from pathlib import Path

import pytest

from alstream.observability.exposition import Exposition, parse_series
from alstream.observability.promql import Matcher, Selector, selectors
from alstream.observability.rule_files import promtool_input_series, rule_selectors

PAGE = """\
# HELP alstream_router_assignments_total Assignments made, by kind.
# TYPE alstream_router_assignments_total counter
alstream_router_assignments_total{kind="RANDOM"} 3.0
alstream_router_assignments_total{kind="NORMAL"} 9.0
# HELP alstream_dead_letters_total Records sent to the dead-letter topic.
# TYPE alstream_dead_letters_total counter
# HELP alstream_consumer_lag_messages Lag.
# TYPE alstream_consumer_lag_messages gauge
alstream_consumer_lag_messages{agent="router",topic="t1.candidates"} 0.0
"""


@pytest.fixture
def exposition() -> Exposition:
    found = Exposition()
    found.add_scrape(PAGE, job="alstream-router", instance="127.0.0.1:1", topic_prefix="t1.")
    return found


def test_selectors_with_matchers_grouping_and_aggregations() -> None:
    expr = (
        'sum by (agent) (rate(alstream_dead_letters_total{agent!="x"}[10m])) '
        '/ on(agent) group_left sum without (topic) (alstream_agent_records_total{topic=~"a.*", agent="s"})'
        ' or absent(up{job="alstream-scorer"}) offset 7d > bool 0.5'
    )
    assert selectors(expr) == [
        Selector("alstream_dead_letters_total", (Matcher("agent", "!=", "x"),)),
        Selector("alstream_agent_records_total", (Matcher("topic", "=~", "a.*"), Matcher("agent", "=", "s"))),
        Selector("up", (Matcher("job", "=", "alstream-scorer"),)),
    ]


def test_regex_matchers_are_anchored_and_missing_labels_read_empty() -> None:
    assert Matcher("job", "=~", "alstream-.*").matches("alstream-router")
    assert not Matcher("job", "=~", "alstream").matches("alstream-router")
    assert Matcher("kind", "!=", "RANDOM").matches(None)
    assert not Matcher("kind", "=", "RANDOM").matches(None)


def test_a_wrong_label_value_selects_nothing(exposition: Exposition) -> None:
    """A selector with a wrong label value finds nothing: the router exports the enum's name ``RANDOM``,
    so a rule asking for ``kind="random"`` would never fire."""
    (wrong,) = selectors('alstream_router_assignments_total{kind="random"}')
    (right,) = selectors('alstream_router_assignments_total{kind="RANDOM", job=~"alstream-.*"}')
    assert not exposition.finds(wrong)
    assert exposition.finds(right)
    assert exposition.finds(Selector("up", (Matcher("job", "=", "alstream-router"),)))
    assert not exposition.finds(Selector("alstream_no_such_metric"))


def test_a_declared_metric_without_series_is_found_by_name_only(exposition: Exposition) -> None:
    assert exposition.finds(Selector("alstream_dead_letters_total"))
    assert not exposition.finds(Selector("alstream_dead_letters_total", (Matcher("agent", "=", "scorer"),)))


def test_promtool_series_shape_problems(exposition: Exposition) -> None:
    def check(text: str, **kwargs: object) -> list[str]:
        series = parse_series(text)
        return exposition.shape_problems(series.name, series.labels, **kwargs)  # type: ignore[arg-type]

    assert (
        check('alstream_router_assignments_total{kind="RANDOM",job="alstream-router",instance="r:9400"}')
        == []
    )
    assert check('alstream_router_assignments_total{kind="random",job="alstream-router",instance="r"}') == [
        "alstream_router_assignments_total{kind=\"random\"}: exported values are ['NORMAL', 'RANDOM']"
    ]
    # Topic labels are compared under the default prefix, whatever prefix the scraped stack used.
    assert (
        check(
            'alstream_consumer_lag_messages{agent="router",topic="alstream.candidates",job="alstream-router",instance="x"}'
        )
        == []
    )
    assert (
        "labels"
        in check('alstream_consumer_lag_messages{agent="router",job="alstream-router",instance="x"}')[0]
    )
    documented = {"alstream_dead_letters_total": ("agent", "source_topic", "error_class")}
    good = 'alstream_dead_letters_total{agent="a",source_topic="t",error_class="E",job="j",instance="i"}'
    assert check(good, documented=documented) == []
    assert check('alstream_dead_letters_total{agent="a",job="j",instance="i"}', documented=documented)
    assert "no target exports" in check('alstream_nothing_total{job="j",instance="i"}')[0]


def test_the_repository_rules_and_promtool_tests_are_read(repo: Path) -> None:
    """The live check reads these; if they read as empty, it would pass vacuously."""
    rules = rule_selectors(repo / "deploy" / "prometheus" / "rules")
    assert len(rules) >= 10
    assert any(
        s.metric == "alstream_router_assignments_total" and s.matchers for f in rules.values() for s in f
    )
    assert len(promtool_input_series(repo / "deploy" / "prometheus" / "tests")) > 10


def test_promtool_series_come_from_the_scrape(exposition: Exposition) -> None:
    from alstream.observability.exposition import promtool_series

    assert promtool_series(exposition, "alstream_router_assignments_total") == [
        'alstream_router_assignments_total{instance="127.0.0.1:1",job="alstream-router",kind="NORMAL"}',
        'alstream_router_assignments_total{instance="127.0.0.1:1",job="alstream-router",kind="RANDOM"}',
    ]


def test_the_command_prints_promtool_series_from_a_live_page(capsys: pytest.CaptureFixture[str]) -> None:
    from prometheus_client import CollectorRegistry, Counter, start_http_server

    from alstream.observability.exposition import main
    from alstream.streams.embedded_broker import free_port

    registry = CollectorRegistry()
    Counter("alstream_router_assignments_total", "x", ["kind"], registry=registry).labels("RANDOM").inc()
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    try:
        assert main([f"alstream-router=127.0.0.1:{port}", "alstream_router_assignments_total"]) == 0
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    labels = f'instance="127.0.0.1:{port}",job="alstream-router",kind="RANDOM"'
    assert capsys.readouterr().out == f"  - series: 'alstream_router_assignments_total{{{labels}}}'\n"
    assert main(["alstream_router_assignments_total"]) == 2
