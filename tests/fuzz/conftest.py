"""Fuzz-suite plumbing: every property counts the inputs it tried, and the session prints the totals
(in the terminal summary, so the counts show whether or not ``-s`` is given)."""

from __future__ import annotations

from collections import Counter

import pytest

COUNTS = pytest.StashKey[Counter]()


@pytest.fixture(scope="session")
def fuzz_counts(request: pytest.FixtureRequest) -> Counter:
    """A session counter (session scope: hypothesis re-runs function-scoped fixtures per test only)."""
    return request.config.stash.setdefault(COUNTS, Counter())


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    counts = config.stash.get(COUNTS, None)
    if not counts:
        return
    terminalreporter.section("fuzz inputs tried")
    for name, number in sorted(counts.items()):
        terminalreporter.write_line(f"{name:<55} {number:>7}")
    terminalreporter.write_line(f"{'TOTAL':<55} {sum(counts.values()):>7}")
