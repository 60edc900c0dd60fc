"""Prints the fault-injection figures in the terminal summary (shown with or without ``-s``)."""

from __future__ import annotations

import pytest

REPORTS = pytest.StashKey[list]()


@pytest.fixture(scope="session")
def campaign_reports(request: pytest.FixtureRequest) -> list:
    return request.config.stash.setdefault(REPORTS, [])


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    for text in config.stash.get(REPORTS, []):
        terminalreporter.section("fault injection")
        for line in text.splitlines():
            terminalreporter.write_line(line)
