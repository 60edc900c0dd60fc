"""Runs the demo's agents and annotators as real processes, and always stops them.

Each process gets its own log file and its own /metrics port; stopping sends SIGTERM to the
process group, then SIGKILL after a grace period, so a failed or interrupted demo leaves nothing
running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ManagedProcess:
    name: str
    args: list[str]
    log_file: Path
    metrics_port: int | None
    process: subprocess.Popen[bytes]
    restarts: int = 0

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Supervisor:
    """Starts ``alstream`` subcommands with a shared environment and stops them all at the end."""

    log_dir: Path
    env: dict[str, str]
    processes: dict[str, ManagedProcess] = field(default_factory=dict)

    def start(
        self,
        name: str,
        args: list[str],
        *,
        metrics_port: int | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> ManagedProcess:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_file = self.log_dir / f"{name}.log"
        env = {**os.environ, **self.env, **(extra_env or {})}
        env["ALSTREAM_METRICS__PORT"] = str(metrics_port or 0)
        handle = open(log_file, "ab")  # noqa: SIM115 - the child owns it
        command = [sys.executable, "-m", "alstream.cli.main", *args]
        process = subprocess.Popen(
            command, stdout=handle, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        handle.close()
        managed = ManagedProcess(name, command, log_file, metrics_port, process)
        self.processes[name] = managed
        return managed

    def run_to_completion(self, name: str, args: list[str], *, timeout_s: float = 300) -> int:
        managed = self.start(name, args)
        try:
            return managed.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.stop(name)
            raise

    def stop(self, name: str, *, grace_s: float = 10.0) -> None:
        self.stop_all(grace_s=grace_s, names=[name])

    def stop_all(self, *, grace_s: float = 10.0, names: list[str] | None = None) -> None:
        """SIGTERM every process at once, then SIGKILL whatever is still running after the grace period."""
        targets = [
            self.processes[n]
            for n in (names if names is not None else list(self.processes))
            if n in self.processes
        ]
        running = [p for p in targets if p.running]
        for managed in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(managed.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while any(p.running for p in running) and time.monotonic() < deadline:
            time.sleep(0.1)
        for managed in running:
            if managed.running:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(managed.process.pid, signal.SIGKILL)
                managed.process.wait(timeout=10)

    def dead(self) -> list[ManagedProcess]:
        return [p for p in self.processes.values() if not p.running and p.process.returncode not in (0, None)]
