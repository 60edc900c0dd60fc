"""Confirmed model failures: counted by root cause, recorded for release notes, fed to the failure bank.

The record is a JSON-lines file (default ``<state_dir>/model_failures.jsonl``), one object per failed
item, appended once per item (the file is also the dedupe set across restarts). Fields:
``item_id, consolidated_label, predicted_class, confidence, root_cause, annotators, label_ids,
overlap, model_version, policy_version, detected_at`` (ISO-8601 UTC). The release engineer reads it.

Items whose candidate carried an embedding are appended to the scorer's known-failures bank
(:class:`alstream.agents.selection.failure_bank.FailureBank`), which the ``failure_distance``
signal reloads when the file changes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from alstream.agents.agreement import metrics as m
from alstream.agents.selection.exceptions import FailureBankError
from alstream.agents.selection.failure_bank import FailureBank

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelFailure:
    item_id: str
    consolidated_label: str
    predicted_class: str
    confidence: float | None
    root_cause: str
    annotators: list[str]
    label_ids: list[str]
    overlap: bool
    model_version: str | None
    policy_version: str | None
    detected_at: str


class FailureRecorder:
    def __init__(self, *, record_path: Path, bank_path: Path) -> None:
        self.record_path = record_path
        self.bank_path = bank_path
        self.recorded: set[str] = set()
        if record_path.exists():
            for line in record_path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    self.recorded.add(json.loads(line)["item_id"])
        self._bank_ids: list[str] = []
        self._bank_rows: list[np.ndarray] = []

    def record(self, failure: ModelFailure, embedding: bytes | None) -> bool:
        """Count and record a failure once per item; returns False for an item already recorded."""
        if failure.item_id in self.recorded:
            return False
        self.record_path.parent.mkdir(parents=True, exist_ok=True)
        with self.record_path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(asdict(failure), sort_keys=True) + "\n")
        self.recorded.add(failure.item_id)
        m.MODEL_FAILURES.labels(failure.root_cause).inc()
        if embedding:
            self._bank_ids.append(failure.item_id)
            self._bank_rows.append(np.frombuffer(embedding, dtype="<f4"))
        return True

    def flush(self) -> None:
        """Append this batch's failures to the bank file (atomic rewrite; ids already there are replaced)."""
        if not self._bank_ids:
            return
        try:
            bank = FailureBank.load(self.bank_path)
            bank.append(self._bank_ids, np.stack(self._bank_rows))
            bank.save(self.bank_path)
        except (FailureBankError, OSError) as exc:  # a bank problem must not stop agreement and calibration
            log.error("could not update the failure bank %s: %s", self.bank_path, exc)
            return
        self._bank_ids, self._bank_rows = [], []
