"""The stable QA gold set (item_id,label CSV owned by the labeling lead), reloaded when the file changes."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


class QaGoldSet:
    """Which item ids are QA gold. A missing file means an empty set (and a warning once)."""

    def __init__(self, *, path: Path | None) -> None:
        self.path = path
        self.ids: frozenset[str] = frozenset()
        self._mtime_ns: int | None = None
        self.reload_if_changed()

    def reload_if_changed(self) -> bool:
        if self.path is None:
            return False
        if not self.path.exists():
            if self._mtime_ns != -1:
                log.warning("QA gold file %s does not exist: no QA gold items will be flagged", self.path)
                self._mtime_ns = -1
                self.ids = frozenset()
            return False
        mtime = self.path.stat().st_mtime_ns
        if mtime == self._mtime_ns:
            return False
        with self.path.open(newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if row and row[0].strip()]
        if rows and rows[0][0].strip().lower() == "item_id":
            rows = rows[1:]
        self.ids = frozenset(row[0].strip() for row in rows)
        self._mtime_ns = mtime
        log.info("QA gold set %s: %d items", self.path, len(self.ids))
        return True

    def mask(self, item_ids: list[str]) -> np.ndarray:
        if not self.ids:
            return np.zeros(len(item_ids), dtype=bool)
        ids = self.ids
        return np.fromiter((i in ids for i in item_ids), dtype=bool, count=len(item_ids))
