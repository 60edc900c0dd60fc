"""The bridge as the agent runtime runs it: one idle callback that starts the bridge once, imports
arrived assignments on every call and polls Label Studio in full when the interval passed or a webhook
hinted; a failed start is tried again on the next call."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from alstream.agents.label_studio.exceptions import LabelStudioUnavailable
from alstream.agents.label_studio.main import BridgeCycle
from alstream.streams.config import KafkaSettings, StreamsSettings
from alstream.streams.runtime import AgentRuntime
from alstream.streams.stopping import StopFlag
from alstream.streams.testing import InMemoryBroker


class RecordingBridge:
    def __init__(self, *, fail_starts: int = 0) -> None:
        self.config = type("Config", (), {"annotators": ["ann-1"]})()
        self.project_id = 7
        self.fail_starts = fail_starts
        self.starts = 0
        self.cycles: list[bool] = []

    def start(self) -> None:
        self.starts += 1
        if self.starts <= self.fail_starts:
            raise LabelStudioUnavailable("Label Studio does not answer")

    def cycle(self, *, full: bool = True) -> None:
        self.cycles.append(full)


def test_first_call_starts_and_polls_in_full_then_intake_only_until_a_hint() -> None:
    bridge, hinted = RecordingBridge(), threading.Event()
    cycle = BridgeCycle(bridge=bridge, poll_interval_s=3600, hinted=hinted)  # type: ignore[arg-type]
    cycle()
    cycle()
    hinted.set()
    cycle()
    cycle()
    assert bridge.starts == 1
    assert bridge.cycles == [True, False, True, False]
    assert not hinted.is_set()


def test_the_poll_interval_makes_a_cycle_full(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("alstream.agents.label_studio.main.time.monotonic", lambda: clock[0])
    bridge = RecordingBridge()
    cycle = BridgeCycle(bridge=bridge, poll_interval_s=5, hinted=threading.Event())  # type: ignore[arg-type]
    cycle()
    clock[0] += 4
    cycle()
    clock[0] += 1
    cycle()
    assert bridge.cycles == [True, False, True]


def test_in_the_runtime_a_failed_start_is_counted_and_tried_again() -> None:
    stop = StopFlag()
    runtime = AgentRuntime(
        agent="label-studio-unit",
        config=StreamsSettings(kafka=KafkaSettings(bootstrap_servers="in-memory")),
        stop=stop,
        producer=InMemoryBroker().producer(),
    )
    bridge = RecordingBridge(fail_starts=1)
    cycle = BridgeCycle(bridge=bridge, poll_interval_s=3600, hinted=threading.Event())  # type: ignore[arg-type]

    def step() -> Any:
        cycle()
        if bridge.cycles:
            stop.set()

    runtime.every(0.01, step, what="the Label Studio cycle")
    runtime.run()  # no main loop: the idle callbacks until the stop flag
    from prometheus_client import REGISTRY

    errors = REGISTRY.get_sample_value(
        "alstream_agent_errors_total", {"agent": "label-studio-unit", "error_class": "LabelStudioUnavailable"}
    )
    assert bridge.starts == 2 and bridge.cycles == [True] and errors == 1
