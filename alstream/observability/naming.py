"""The metric-name contract as code: parse ``docs/metrics.md`` and lint metric names against it.

Dashboards and alert rules are written against names, so a name that breaks the rules (a counter
without ``_total``, a latency in milliseconds, a label holding item ids) is a bug for every reader
of the metrics, not a style issue. The same checks run on the documented names and on what the code
actually registers with prometheus_client.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

PREFIX = "alstream_"
TYPES = {"counter", "gauge", "histogram", "summary", "info"}
NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
LABEL_RE = re.compile(r"^[a-z][a-z0-9_]*$")
# Units that must be converted to base units before they are exposed.
NON_BASE_UNITS = (
    "milliseconds",
    "millis",
    "ms",
    "microseconds",
    "us",
    "nanoseconds",
    "ns",
    "minutes",
    "hours",
    "days",
    "percent",
    "kilobytes",
    "megabytes",
    "kb",
    "mb",
)
TIME_WORDS = ("duration", "latency", "time", "age", "elapsed", "delay")
# Names that are standard elsewhere (Prometheus itself, prometheus_client's process collector).
STANDARD_NAMES = {
    "up",
    "process_start_time_seconds",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
}


@dataclass(frozen=True)
class MetricSpec:
    """One metric as documented (or as registered): name, type and label names."""

    name: str
    type: str
    labels: tuple[str, ...]


def lint(metric: MetricSpec) -> list[str]:
    """Every naming problem of one metric, as sentences that say what to change; empty if fine."""
    name, problems = metric.name, []
    if metric.type not in TYPES:
        problems.append(f"{name}: unknown type {metric.type!r} (one of {sorted(TYPES)})")
    if name in STANDARD_NAMES:
        return problems
    if not name.startswith(PREFIX):
        problems.append(f"{name}: must start with {PREFIX!r}")
    elif name.startswith(PREFIX + PREFIX.rstrip("_")):
        problems.append(f"{name}: doubled prefix")
    if not NAME_RE.match(name):
        problems.append(f"{name}: use lower snake case, no ':' (colons are for recording rules)")
    words = name.split("_")
    if metric.type == "counter" and not name.endswith("_total"):
        problems.append(f"{name}: a counter must end in _total")
    if metric.type != "counter" and name.endswith("_total"):
        problems.append(f"{name}: only counters end in _total")
    if metric.type == "info" and not name.endswith("_info"):
        problems.append(f"{name}: an info metric is exposed as *_info")
    for unit in NON_BASE_UNITS:
        if unit in words:
            problems.append(f"{name}: {unit!r} is not a base unit (use seconds, bytes or a 0-1 ratio)")
    base_words = words[:-1] if name.endswith("_total") else words
    if any(word in TIME_WORDS for word in base_words) and "seconds" not in words:
        problems.append(f"{name}: a time or duration must be in seconds and say so (*_seconds)")
    if (
        metric.type in {"histogram", "summary"}
        and any(w in TIME_WORDS for w in words)
        and words[-1] != "seconds"
    ):
        problems.append(f"{name}: a latency histogram ends in _seconds")
    if "timestamp" in words and not name.endswith("_timestamp_seconds"):
        problems.append(f"{name}: timestamps are *_timestamp_seconds (Unix seconds)")
    for label in metric.labels:
        if not LABEL_RE.match(label):
            problems.append(f"{name}: label {label!r} is not lower snake case")
        if label == "id" or label.endswith(("_id", "_ids")):
            problems.append(f"{name}: label {label!r} would carry unbounded ids; aggregate instead")
        if label.startswith("__"):
            problems.append(f"{name}: label {label!r} is reserved by Prometheus")
    return problems


_ROW = re.compile(r"^\|\s*`(?P<name>[^`]+)`\s*\|\s*(?P<type>[^|]*)\|\s*(?P<labels>[^|]*)\|")


def parse_metrics_doc(path: Path) -> dict[str, MetricSpec]:
    """The metrics listed in the contract's tables, by name.

    A label cell lists names separated by commas; a parenthesis after a label lists its values, e.g.
    ``outcome (published, refused)``. Raises ``ValueError`` on a name listed twice.
    """
    specs: dict[str, MetricSpec] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        match = _ROW.match(line)
        if not match:
            continue
        name = match["name"].strip()
        labels_cell = re.sub(r"\([^)]*\)", "", match["labels"])
        labels = tuple(part.strip() for part in labels_cell.split(",") if part.strip())
        if name in specs:
            raise ValueError(f"{path}:{number}: {name} is listed twice")
        specs[name] = MetricSpec(name, match["type"].strip(), labels)
    return specs


def exposed_names(spec: MetricSpec) -> set[str]:
    """The series names Prometheus stores for one metric (histograms expose _bucket, _sum, _count)."""
    if spec.type == "histogram":
        return {spec.name + suffix for suffix in ("_bucket", "_sum", "_count")}
    if spec.type == "summary":
        return {spec.name, spec.name + "_sum", spec.name + "_count"}
    return {spec.name}


def exposed_index(specs: dict[str, MetricSpec]) -> dict[str, MetricSpec]:
    """Series name -> the documented metric it belongs to."""
    return {series: spec for spec in specs.values() for series in exposed_names(spec)}
