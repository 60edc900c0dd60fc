"""Fault injectors: agent processes that can be SIGKILLed and restarted, and a broker that can be frozen.

The embedded broker keeps its data in memory, so restarting it would lose everything; "unreachable"
is modelled by SIGSTOP (the process stops answering, connections stay open, nothing is lost) and
SIGCONT, like a long GC pause or a network partition that heals.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.waiting import wait_until

ALSTREAM = str(Path(sys.executable).with_name("alstream"))


@dataclass
class AgentProcess:
    """One ``alstream`` subprocess (``agent NAME`` unless ``args`` say otherwise; own session, own log)
    that the campaign kills at will."""

    name: str
    env: dict[str, str]
    log_dir: Path
    ready_marker: str = ""  # a log line fragment printed once the agent is processing
    args: list[str] = field(default_factory=list)
    program: str = ALSTREAM
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    started_at: float = 0.0  # time.time() of the current start
    # Held by whoever kills / restarts it (the injector, the watcher), so the two never race.
    lock: threading.RLock = field(default_factory=threading.RLock)

    def start(self) -> None:
        self.starts += 1
        self.started_at = time.time()
        log = (self.log_dir / f"{self.name}.log").open("ab")
        log.write(f"\n===== start {self.starts} at {self.started_at:.3f} =====\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            [self.program, *(self.args or ["agent", self.name])],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, nothing is flushed or committed."""
        if self.running:
            assert self.process is not None
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self, grace_s: float = 15.0) -> None:
        if not self.running:
            return
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def ready(self) -> bool:
        """Whether the current run printed its ready marker."""
        path = self.log_dir / f"{self.name}.log"
        header = f"===== start {self.starts} at "
        text = path.read_text(errors="replace") if path.exists() else ""
        current = text[text.rfind(header) :] if header in text else ""
        return not self.ready_marker or self.ready_marker in current

    def wait_ready(self, timeout_s: float = 90.0) -> bool:
        """True once the current run printed its ready marker (so a kill lands mid-work, not mid-import)."""
        try:
            wait_until(self.ready, timeout_s=timeout_s, what=f"{self.name}'s ready marker", interval_s=0.5)
        except AssertionError:
            return False  # the campaign notes it among the faults and kills the process anyway
        return True

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def tail(self, lines: int = 30) -> str:
        path = self.log_dir / f"{self.name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@dataclass
class BrokerFreezer:
    """Makes the broker unreachable (SIGSTOP) and brings it back (SIGCONT) without losing its memory."""

    pid: int
    frozen: bool = False

    def freeze(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
        self.frozen = False


@dataclass
class FaultLog:
    """What was injected, for the report."""

    counts: Counter = field(default_factory=Counter)
    events: list[str] = field(default_factory=list)
    echo: bool = False  # print each fault as it happens (the long benchmark's progress)

    def note(self, kind: str, detail: str) -> None:
        self.counts[kind] += 1
        event = f"{time.strftime('%H:%M:%S')} {kind}: {detail}"
        self.events.append(event)
        if self.echo:
            print(f"  {event}", flush=True)


@dataclass
class Watcher:
    """Watches every process of the campaign, as a service manager would: a process that exits when
    nobody killed it is noted (exit code, last log lines) and restarted; more than ``crash_loop_after``
    unexpected exits of one process is a crash-loop. It also times recoveries: from each (re)start to
    the process's ready marker."""

    processes: dict[str, AgentProcess]
    faults: FaultLog
    crash_loop_after: int = 3
    unexpected_exits: Counter = field(default_factory=Counter)
    exit_details: list[str] = field(default_factory=list)
    recoveries: list[tuple[str, float]] = field(default_factory=list)  # (process, seconds to ready)
    _pending_ready: dict[str, tuple[int, float]] = field(default_factory=dict)  # name -> (start #, at)
    stop: threading.Event = field(default_factory=threading.Event)

    def started(self, process: AgentProcess, *, since: float | None = None) -> None:
        """Time the recovery of ``process``'s current start, from ``since`` (default: the start)."""
        self._pending_ready[process.name] = (process.starts, since or process.started_at)

    def crash_loops(self) -> dict[str, int]:
        return {name: n for name, n in self.unexpected_exits.items() if n > self.crash_loop_after}

    def run(self) -> None:
        while not self.stop.wait(0.5):
            self.check()

    def check(self) -> None:
        for name, process in self.processes.items():
            with process.lock:
                pending = self._pending_ready.get(name)
                if pending and pending[0] == process.starts and process.ready():
                    self.recoveries.append((name, time.time() - pending[1]))
                    del self._pending_ready[name]
                code = process.exit_code()
                if code is None or process.process is None:
                    continue
                self.unexpected_exits[name] += 1
                last = process.tail(3).replace("\n", " | ")[-400:]
                self.exit_details.append(f"{name} exited with {code} (start #{process.starts}): {last}")
                self.faults.note("unexpected exit", f"{name} code {code}")
                process.start()
                self.started(process)
