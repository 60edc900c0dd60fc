"""Supervisor.stop_all stops exactly the processes it is given: an empty list means none, not all."""

from __future__ import annotations

import subprocess
from pathlib import Path

from alstream.demo.processes import ManagedProcess, Supervisor


def _sleeper(tmp_path: Path, name: str) -> ManagedProcess:
    process = subprocess.Popen(["sleep", "30"], start_new_session=True)
    return ManagedProcess(name, ["sleep", "30"], tmp_path / f"{name}.log", None, process)


def test_stop_all_with_no_names_stops_nothing_and_without_names_stops_all(tmp_path: Path) -> None:
    supervisor = Supervisor(log_dir=tmp_path, env={})
    supervisor.processes = {name: _sleeper(tmp_path, name) for name in ("scorer", "labels")}
    try:
        supervisor.stop_all(grace_s=5.0, names=[])
        assert all(p.running for p in supervisor.processes.values())

        supervisor.stop_all(grace_s=5.0, names=["labels"])
        assert supervisor.processes["scorer"].running
        assert not supervisor.processes["labels"].running

        supervisor.stop_all(grace_s=5.0)
        assert not any(p.running for p in supervisor.processes.values())
    finally:
        for managed in supervisor.processes.values():
            if managed.running:
                managed.process.kill()
                managed.process.wait(timeout=5)
