"""The PromQL lint that checks dashboards and rules against the metric contract."""

from __future__ import annotations

import pytest

from alstream.observability.promql import metric_names, substitute_grafana_variables


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ("sum(increase(alstream_labels_total[7d]))", {"alstream_labels_total"}),
        (
            "histogram_quantile(0.95, sum by (le, agent) "
            '(rate(alstream_agent_batch_duration_seconds_bucket{agent=~"s.*"}[$__rate_interval])))',
            {"alstream_agent_batch_duration_seconds_bucket"},
        ),
        ("sum(rate(a_total[5m])) by (agent) / on(agent) group_left(x) b offset 7d", {"a_total", "b"}),
        ('up{job=~"alstream-.*"} == 0 and on() vector(1)', {"up"}),
        (
            "time() - alstream_agent_last_progress_timestamp_seconds > 300",
            {"alstream_agent_last_progress_timestamp_seconds"},
        ),
        ('label_replace(x, "dst", "$1", "src", "(.*)")', {"x"}),
        ("1 - (a or b) unless c", {"a", "b", "c"}),
    ],
)
def test_metric_names(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_grafana_interval_is_replaced() -> None:
    assert substitute_grafana_variables("rate(x[$__rate_interval])") == "rate(x[1m])"
