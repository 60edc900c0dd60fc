"""Several agents on one host, as the README's "Running it against your cluster" recipe starts them.

No agent is given ``ALSTREAM_METRICS__PORT``: each serves /metrics on its own default port
(``metrics.base_port`` + its offset; the base is moved to a free block because tests never use fixed
ports). A second copy of an agent on the same host stops at once with one line naming the setting.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from alstream.observability.metrics import AGENT_PORT_OFFSETS
from alstream.settings import AlstreamSettings
from tests.support.ports import free_port_block
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

# The agents of the README's recipe. The Label Studio bridge needs a Label Studio server to start
# (tests/integration/label_studio runs it) and the tool gateway needs [identity] tools
# (tests/integration/security runs it); their default ports are more offsets of the same table.
RECIPE_AGENTS = {
    agent: offset
    for agent, offset in AGENT_PORT_OFFSETS.items()
    if agent not in ("label-studio", "tool-gateway")
}


def agent_up(port: int, agent: str) -> bool:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return False
    return f'alstream_agent_up{{agent="{agent}"}} 1.0' in text


def test_every_agent_on_one_host_gets_its_own_metrics_port(
    topics: AlstreamSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = free_port_block(max(AGENT_PORT_OFFSETS.values()))
    monkeypatch.delenv("ALSTREAM_METRICS__PORT", raising=False)
    env = {
        **os.environ,
        "ALSTREAM_METRICS__BASE_PORT": str(base),
        "ALSTREAM_TASK__CLASSES": '["cat", "dog", "bird"]',
        "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state"),
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}
    logs = {agent: tmp_path / f"{agent}.log" for agent in RECIPE_AGENTS}
    try:
        for agent in RECIPE_AGENTS:
            with logs[agent].open("wb") as log:
                processes[agent] = subprocess.Popen(
                    [sys.executable, "-m", "alstream.cli.main", "agent", agent, "--log-level", "WARNING"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        for agent, offset in RECIPE_AGENTS.items():
            wait_until(
                lambda agent=agent, offset=offset: agent_up(base + offset, agent),
                timeout_s=120,
                interval_s=0.5,
                what=f"{agent} serving /metrics on its default port {base + offset}",
                diagnose=lambda agent=agent: logs[agent].read_text()[-3000:],
            )
        assert all(process.poll() is None for process in processes.values())

        second = subprocess.run(
            [sys.executable, "-m", "alstream.cli.main", "agent", "agreement"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 2, second.stderr
        errors = [line for line in second.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in second.stderr, second.stderr
        assert f"metrics port {base + AGENT_PORT_OFFSETS['agreement']}" in errors[0]
        assert "ALSTREAM_METRICS__PORT" in errors[0]
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for agent, process in processes.items():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
                pytest.fail(f"{agent} did not stop on SIGTERM:\n{logs[agent].read_text()[-3000:]}")
