"""What the running agents export, read from their /metrics pages, and what of it a selector finds.

Alert rules, dashboard panels and promtool test series are written against metric names and label
values; this module holds the one answer to "does anything really export that?". A scrape is
parsed with prometheus_client's own text parser, and the target labels Prometheus adds (``job``,
``instance``) and its synthetic ``up`` series are added as Prometheus would add them.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from alstream.observability.promql import Selector, parse_matchers

# Labels Prometheus attaches to every scraped series; they are not the exporter's.
TARGET_LABELS = ("job", "instance")


@dataclass(frozen=True)
class Series:
    name: str
    labels: Mapping[str, str]


# Labels whose values are topic names, which carry the deployment's topic prefix.
TOPIC_LABELS = ("topic", "source_topic")
DEFAULT_TOPIC_PREFIX = "alstream."


def sample_names(family_name: str, family_type: str) -> set[str]:
    """The series names a metric family exports once it has samples (a counter ``x`` as ``x_total``)."""
    if family_type == "counter":
        return {family_name + "_total"}
    if family_type == "histogram":
        return {family_name + suffix for suffix in ("_bucket", "_sum", "_count")}
    if family_type == "summary":
        return {family_name, family_name + "_sum", family_name + "_count"}
    if family_type == "info":
        return {family_name + "_info"}
    return {family_name}


@dataclass
class Exposition:
    """Every series a set of targets exported in one scrape each.

    ``declared`` holds, per target, the names of metrics an exporter declares (``# TYPE``) with no
    series yet: a labelled counter nobody incremented (no dead letter so far) is declared, not absent.
    """

    series: list[Series] = field(default_factory=list)
    declared: list[Series] = field(default_factory=list)

    def add_scrape(
        self, text: str, *, job: str, instance: str, topic_prefix: str = DEFAULT_TOPIC_PREFIX
    ) -> None:
        """Add one target's page. Topic label values are rewritten from ``topic_prefix`` to the default
        prefix, so a scrape of a stack running under a test prefix compares with production's values."""
        target = {"job": job, "instance": instance}
        self.series.append(Series("up", dict(target)))
        for family in text_string_to_metric_families(text):
            if not family.samples:
                for name in sample_names(family.name, family.type):
                    self.declared.append(Series(name, dict(target)))
            for sample in family.samples:
                labels = {**sample.labels, **target}
                for label in TOPIC_LABELS:
                    if label in labels and labels[label].startswith(topic_prefix):
                        labels[label] = DEFAULT_TOPIC_PREFIX + labels[label].removeprefix(topic_prefix)
                self.series.append(Series(sample.name, labels))

    def names(self) -> set[str]:
        return {s.name for s in self.series} | {s.name for s in self.declared}

    def finds(self, selector: Selector) -> bool:
        """True if ``selector`` selects at least one exported series, or if it asks for no label
        value (only its name, target labels or negative matchers) of a metric an exporter declares."""
        if any(selector.selects(s.name, dict(s.labels)) for s in self.series):
            return True
        return any(selector.selects(s.name, dict(s.labels)) for s in self.declared)

    def label_values(self, name: str, label: str) -> set[str]:
        return {s.labels[label] for s in self.series if s.name == name and label in s.labels}

    def shape_problems(
        self, name: str, labels: Mapping[str, str], *, documented: Mapping[str, Iterable[str]] | None = None
    ) -> list[str]:
        """Why a series written by hand (a promtool input series) is not shaped like an exported one.

        The name must be exported, with the same label names; each label value (other than
        ``instance``, which names a host) must be one some target exported for that metric. A metric
        declared with no series yet (an error counter in a healthy run) can only be checked against
        its ``documented`` label names.
        """
        exported = [s for s in self.series if s.name == name]
        if not exported:
            if not any(s.name == name for s in self.declared):
                return [f"{name}: no target exports this metric"]
            if documented is None or name not in documented:
                return [f"{name}: declared with no series yet, and no documented labels to compare with"]
            wanted = set(documented[name]) | set(TARGET_LABELS)
            if set(labels) != wanted:
                return [f"{name}: labels {sorted(labels)}; documented with {sorted(wanted)}"]
            return []
        shapes = {frozenset(s.labels) for s in exported}
        if frozenset(labels) not in shapes:
            wanted_shapes = " or ".join(sorted(str(sorted(shape)) for shape in shapes))
            return [f"{name}: labels {sorted(labels)}; exported with {wanted_shapes}"]
        problems = []
        for label, value in labels.items():
            if label == "instance":
                continue
            values = self.label_values(name, label)
            if value not in values:
                problems.append(f'{name}{{{label}="{value}"}}: exported values are {sorted(values)}')
        return problems


def scrape(url: str, *, timeout_s: float = 5.0) -> str:
    """The text of one /metrics page."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return response.read().decode()


def scrape_targets(targets: Mapping[str, Iterable[str]]) -> Exposition:
    """Scrape ``{job: [host:port, ...]}`` once each."""
    exposition = Exposition()
    for job, addresses in targets.items():
        for address in addresses:
            exposition.add_scrape(scrape(f"http://{address}/metrics"), job=job, instance=address)
    return exposition


def parse_series(text: str) -> Series:
    """A promtool input series, ``name{label="value", ...}``, as a :class:`Series`."""
    name, brace, rest = text.strip().partition("{")
    labels = {m.label: m.value for m in parse_matchers(brace + rest)} if brace else {}
    return Series(name.strip(), labels)


def promtool_series(exposition: Exposition, name: str) -> list[str]:
    """Every exported series of metric ``name`` written as a promtool test's ``series:`` selector.

    Promtool tests take their input series from here (a scrape of running agents), not typed by
    hand: a label value typed by hand is how a rule and its test can agree on a value no agent emits.
    """
    lines = []
    for series in exposition.series:
        if series.name == name:
            labels = ",".join(f'{key}="{value}"' for key, value in sorted(series.labels.items()))
            lines.append(f"{name}{{{labels}}}")
    return sorted(set(lines))


def main(argv: list[str] | None = None) -> int:
    """``python -m alstream.observability.exposition JOB=HOST:PORT ... METRIC``: print the series a
    running agent exports for METRIC, ready to paste into a promtool test."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or not all("=" in target for target in args[:-1]):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print(
            "usage: python -m alstream.observability.exposition JOB=HOST:PORT [...] METRIC", file=sys.stderr
        )
        return 2
    targets: dict[str, list[str]] = {}
    for target in args[:-1]:
        job, _, address = target.partition("=")
        targets.setdefault(job, []).append(address)
    for line in promtool_series(scrape_targets(targets), args[-1]):
        print(f"  - series: '{line}'")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
