"""The one way a test waits for something that happens in another process or thread.

Tests never assert on time: a deadline only bounds how long a test waits for a condition that must
eventually hold, and the failure message says what was awaited and what was last seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    condition: Callable[[], T],
    *,
    timeout_s: float,
    what: str,
    interval_s: float = 0.1,
    diagnose: Callable[[], str] | None = None,
) -> T:
    """Call ``condition`` until it returns something truthy and return that value.

    Raises ``AssertionError`` naming ``what`` after ``timeout_s``; ``diagnose()`` adds context (a log
    tail, the last state seen) to the message.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            detail = f"\n{diagnose()}" if diagnose is not None else ""
            raise AssertionError(f"timed out after {timeout_s:g}s waiting for {what}{detail}")
        time.sleep(interval_s)
