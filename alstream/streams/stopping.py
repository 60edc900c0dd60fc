"""The stop flag every agent loop checks: set by SIGTERM / SIGINT, or by a test."""

from __future__ import annotations

import signal
import threading


class StopFlag:
    """Set by SIGTERM / SIGINT (or by tests) to end an agent's loop after its current step."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def set(self) -> None:
        self.event.set()

    def __bool__(self) -> bool:
        return self.event.is_set()

    def wait(self, timeout_s: float) -> bool:
        """Sleep up to ``timeout_s``, waking early when the flag is set; returns whether it is set."""
        return self.event.wait(timeout_s)

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, frame: self.set())
