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
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ALSTREAM = str(Path(sys.executable).with_name("alstream"))


@dataclass
class AgentProcess:
    """One ``alstream agent NAME`` subprocess (own session, own log) that the campaign kills at will."""

    name: str
    env: dict[str, str]
    log_dir: Path
    ready_marker: str = ""  # a log line fragment printed once the agent is processing
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        self.starts += 1
        log = (self.log_dir / f"{self.name}.log").open("ab")
        log.write(f"\n===== start {self.starts} at {time.time():.3f} =====\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            [ALSTREAM, "agent", self.name],
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

    def wait_ready(self, timeout_s: float = 90.0) -> bool:
        """True once the current run printed its ready marker (so a kill lands mid-work, not mid-import)."""
        deadline = time.monotonic() + timeout_s
        path = self.log_dir / f"{self.name}.log"
        header = f"===== start {self.starts} at "
        while time.monotonic() < deadline:
            text = path.read_text(errors="replace") if path.exists() else ""
            current = text[text.rfind(header) :] if header in text else ""
            if not self.ready_marker or self.ready_marker in current:
                return True
            time.sleep(0.5)
        return False

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

    def note(self, kind: str, detail: str) -> None:
        self.counts[kind] += 1
        self.events.append(f"{time.strftime('%H:%M:%S')} {kind}: {detail}")
