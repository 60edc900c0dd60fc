"""Paths the observability checks read: the metric contract, dashboards, rules and the compose stack."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def promtool() -> str:
    """The promtool binary; CI installs Debian's prometheus package, elsewhere the test skips."""
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not installed (apt-get install prometheus); CI installs it in .ci/run")
    return path
