"""``alstream`` commands as real subprocesses, the way an operator starts them.

Each process writes its own log file (unbuffered, so a killed process keeps every line it wrote); a
failing wait shows the log's tail, because CI keeps the output, not the files.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
ALSTREAM = str(Path(sys.executable).with_name("alstream"))


@dataclass
class CommandProcess:
    """One ``alstream ...`` subprocess in its own session, with its own log file."""

    args: list[str]
    env: dict[str, str]
    log_file: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> CommandProcess:
        with self.log_file.open("ab") as sink:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [ALSTREAM, *self.args],
                env={**self.env, "PYTHONUNBUFFERED": "1"},
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def tail(self, lines: int = 60) -> str:
        kept = [line for line in self.log().splitlines() if not line.startswith("%")]  # librdkafka noise
        return f"--- last lines of {self.log_file.name} ---\n" + "\n".join(kept[-lines:])

    def stop(self, *, timeout_s: float = 30.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout_s``; returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                return self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.wait(timeout=10)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def start_command(args: list[str], *, env: dict[str, str], log_file: Path) -> CommandProcess:
    return CommandProcess(args=args, env=env, log_file=log_file).start()


def start_agent(name: str, *, env: dict[str, str], log_file: Path) -> CommandProcess:
    return start_command(["agent", name], env=env, log_file=log_file)


def while_running(process: CommandProcess, condition: Callable[[], T]) -> Callable[[], T]:
    """``condition`` for :func:`tests.support.waiting.wait_until` that fails at once, with the
    process's log, when the process exited instead of getting there."""

    def check() -> T:
        assert process.running, f"the process exited with {process.returncode}\n{process.tail()}"
        return condition()

    return check
