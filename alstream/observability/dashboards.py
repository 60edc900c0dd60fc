"""Reads the provisioned Grafana dashboards: every panel's PromQL, for the checks and the live test.

The JSON files in ``grafana/dashboards/`` are what Grafana loads; reading them (not the generator)
means the checks see exactly what operators will see.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PanelQuery:
    dashboard: str  # the dashboard's uid
    panel: str  # the panel's title
    ref_id: str
    expr: str

    @property
    def label(self) -> str:
        return f"{self.dashboard} / {self.panel} / {self.ref_id}"


def load_dashboards(directory: Path) -> dict[str, dict]:
    """Dashboards by file name; raises ``ValueError`` naming the file that is not valid JSON."""
    boards = {}
    for path in sorted(directory.glob("*.json")):
        try:
            boards[path.name] = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not valid JSON: {exc}") from exc
    return boards


def panels(board: dict) -> Iterator[dict]:
    """Every non-row panel, including panels nested in collapsed rows."""
    for panel in board.get("panels", []):
        if panel.get("type") == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def panel_queries(directory: Path) -> list[PanelQuery]:
    """Every target of every panel of every dashboard in ``directory``."""
    queries = []
    for board in load_dashboards(directory).values():
        for panel in panels(board):
            for target in panel.get("targets", []):
                queries.append(
                    PanelQuery(board["uid"], panel["title"], target.get("refId", "?"), target.get("expr", ""))
                )
    return queries
