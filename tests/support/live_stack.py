"""The running alstream stack the observability tests read: agents, traffic, annotators, as subprocesses."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from alstream.demo import dataset
from alstream.demo.processes import Supervisor
from alstream.observability.promql import metric_names

REPO = Path(__file__).resolve().parents[2]
AGENTS = ("scorer", "router", "labels", "agreement", "release", "trainer")
ANNOTATORS = (("ann-obs-1", "0.95"), ("ann-obs-2", "0.9"), ("ann-obs-3", "0.6"))
# Metrics only the Label Studio bridge exports: its panels need a Label Studio server, so
# tests/integration/label_studio/test_bridge_panels.py checks them against a real bridge instead.
BRIDGE_METRIC_PREFIX = "alstream_label_studio_"
TRAFFIC_BUDGET_S = 150.0  # the whole wait for panels to fill, shared by every panel test


@dataclass
class Stack:
    supervisor: Supervisor
    ports: dict[str, int]
    data: dataset.DemoData
    workdir: Path
    topic_prefix: str
    started: float = field(default_factory=time.monotonic)

    def budget_left(self, share: float = 1.0) -> float:
        """Seconds left of ``share`` of the traffic budget, counted from the stack's start."""
        return max(0.0, self.started + TRAFFIC_BUDGET_S * share - time.monotonic())

    def check_alive(self) -> None:
        for name in self.ports:
            process = self.supervisor.processes[name]
            if not process.running:
                pytest.fail(
                    f"agent {name} exited with {process.process.returncode}; log {process.log_file}:\n"
                    f"{process.tail(30)}"
                )


def items_file(data: dataset.DemoData, path: Path) -> Path:
    with open(path, "w") as handle:
        for item_id, features in zip(data.stream_ids, data.stream_features, strict=True):
            record = {
                "item_id": item_id,
                "source": "observability-test",
                "unit_of_work": "ITEM",
                "embedding": [round(float(v), 6) for v in features],
            }
            handle.write(json.dumps(record) + "\n")
    return path


def send_undecodable_records(bootstrap: str, topic_prefix: str) -> None:
    """One record no agent can decode on items and on labels: real dead letters, as a bad producer
    makes them, so the dead-letter series are exported with the error classes agents really use."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap})
    for topic in ("items", "labels"):
        producer.produce(topic_prefix + topic, key=b"undecodable", value=b"not an avro record")
    assert producer.flush(30) == 0, "undecodable records not delivered"


def served_by_the_stack(expr: str) -> bool:
    """False for a query that reads only the Label Studio bridge's metrics (see BRIDGE_METRIC_PREFIX)."""
    return not all(name.startswith(BRIDGE_METRIC_PREFIX) for name in metric_names(expr))
