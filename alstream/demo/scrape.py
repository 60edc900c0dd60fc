"""Reads the agents' /metrics endpoints, for the live view and the end-of-demo summary."""

from __future__ import annotations

import urllib.request
from collections import defaultdict
from collections.abc import Iterable

from prometheus_client.parser import text_string_to_metric_families

Sample = tuple[str, tuple[tuple[str, str], ...]]


def scrape(port: int, *, timeout_s: float = 1.0) -> dict[Sample, float]:
    """Every sample of one endpoint, keyed by (name, sorted labels). Empty if it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout_s) as response:
            text = response.read().decode()
    except OSError:
        return {}
    samples: dict[Sample, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def scrape_all(ports: Iterable[int]) -> dict[Sample, float]:
    merged: dict[Sample, float] = {}
    for port in ports:
        merged.update(scrape(port))
    return merged


def total(samples: dict[Sample, float], name: str, **match: str) -> float:
    """Sum of a metric's samples whose labels include ``match``."""
    return sum(
        value
        for (sample_name, labels), value in samples.items()
        if sample_name == name and all(dict(labels).get(k) == v for k, v in match.items())
    )


def by_label(samples: dict[Sample, float], name: str, label: str) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    for (sample_name, labels), value in samples.items():
        if sample_name == name:
            out[dict(labels).get(label, "")] += value
    return dict(out)


def histogram_mean(samples: dict[Sample, float], name: str, **match: str) -> float | None:
    count = total(samples, f"{name}_count", **match)
    return total(samples, f"{name}_sum", **match) / count if count else None
