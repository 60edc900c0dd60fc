"""Reads the Prometheus rule files and promtool test files under ``deploy/prometheus``."""

from __future__ import annotations

from pathlib import Path

import yaml

from alstream.observability.promql import Selector, selectors


def rule_selectors(directory: Path) -> dict[str, list[Selector]]:
    """Every rule's vector selectors, by ``file / rule name``."""
    found: dict[str, list[Selector]] = {}
    for path in sorted(directory.glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                name = rule.get("alert") or rule.get("record")
                found[f"{path.name} / {name}"] = selectors(rule["expr"])
    return found


def promtool_input_series(directory: Path) -> dict[str, str]:
    """Every input series of every promtool test file in ``directory``: series -> ``file / test``."""
    found = {}
    for path in sorted(directory.glob("*.yml")):
        for case in yaml.safe_load(path.read_text())["tests"]:
            for series in case.get("input_series", []):
                found[series["series"]] = f"{path.name} / {case.get('name', '?')}"
    return found
