"""Work around tests/conftest.py's Docker probe leaking its unix socket (a ResourceWarning that
filterwarnings=error turns into a setup error). Remove once that probe closes its client."""

from __future__ import annotations

import gc
import warnings

import pytest


@pytest.fixture(scope="session", autouse=True)
def _broker_started_quietly(request: pytest.FixtureRequest) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        request.getfixturevalue("kafka_bootstrap")
        gc.collect()  # the probe's client sits in a traceback cycle: finalise it while ignored
