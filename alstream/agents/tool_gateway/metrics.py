"""Prometheus metrics of the tool gateway."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

GATEWAY_RECORDS = Counter(
    "alstream_tool_gateway_records_total",
    "Records the tool gateway handled, by tool, stream (labels, annotator-events, assignments) and "
    "outcome (forwarded, refused, delivered, unbound, malformed).",
    ["tool", "stream", "outcome"],
)
LABEL_IDS = Gauge(
    "alstream_tool_gateway_label_ids",
    "Label ids the gateway holds bound to their first content.",
)
