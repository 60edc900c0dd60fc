"""Label Studio for the tests: one real server per session, a person's session, a browser, the bridge.

The server runs from ``.venv-label-studio`` (``make label-studio``) over a copy of a migrated data
directory built once per Label Studio version, so a session pays ~15 s, not the first start's minutes.
Where Label Studio or chromium is missing the tests skip, unless ``ALSTREAM_REQUIRE_LABEL_STUDIO`` is set
(``.ci/run`` sets it after installing both), where they fail.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from confluent_kafka import Producer

from alstream.agents.label_studio.local_server import (
    LabelStudioNotInstalled,
    LocalLabelStudio,
    find_executable,
    fresh_server,
)
from alstream.demo.images import digit_png
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import codec_for
from alstream.streams.kafka_config import producer_config
from alstream.streams.partitioning import partition_for
from tests.support.records import assignment
from tests.support.topic_dump import dump

REQUIRE_ENV = "ALSTREAM_REQUIRE_LABEL_STUDIO"
CHROMIUM = "/usr/bin/chromium"
# Flags that keep a root, headless Chromium off the network (see the machine notes of this project).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ANNOTATOR_PASSWORD = "label-me-please-42"
CLASSES = ["cat", "dog", "fox"]


def image_uri(seed: int) -> str:
    pixels = np.random.default_rng(seed).random(64)
    return "data:image/png;base64," + base64.b64encode(digit_png(pixels)).decode()


def produce_assignments(settings: AlstreamSettings, records: list[dict[str, Any]]) -> None:
    """As the router does: keyed by annotator, on ``partition_for(annotator, partitions)``."""
    producer = Producer(producer_config(settings))
    topic = settings.kafka.topic("assignments")
    partitions = len(producer.list_topics(topic, timeout=15).topics[topic].partitions)
    codec = codec_for("assignments", settings)
    for record in records:
        producer.produce(
            topic,
            key=record["annotator_id"].encode(),
            value=codec.encode(record),
            partition=partition_for(record["annotator_id"], partitions),
        )
    assert producer.flush(30) == 0


def decoded(settings: AlstreamSettings, base: str) -> list[dict[str, Any]]:
    codec = codec_for(base, settings)
    return [codec.decode(m.value()) for m in dump(settings, base)]


def work(assignment_id: str, annotator_id: str, seed: int, **overrides: Any) -> dict[str, Any]:
    return assignment(
        assignment_id,
        annotator_id=annotator_id,
        item_id=f"item-{assignment_id}",
        classes=CLASSES,
        assigned_at=datetime.now(tz=UTC),
        uri=image_uri(seed),
        **overrides,
    )


def missing(reason: str) -> None:
    """Skip, or fail where CI promised to install everything."""
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{reason} ({REQUIRE_ENV} is set: .ci/run should have installed it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLabelStudio]:
    """A running Label Studio server for the whole session (projects keep tests apart)."""
    try:
        executable = find_executable()
    except LabelStudioNotInstalled as exc:
        missing(str(exc))
    root = tmp_path_factory.mktemp("label-studio")
    server = fresh_server(root / "data", log_file=root / "server.log", executable=executable)
    with server:
        server.start()
        yield server


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).is_file():
        missing("Debian's chromium is not installed (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("playwright is not installed (pip install playwright)")
    return CHROMIUM


class PersonSession:
    """A person logged into Label Studio with a password, acting through the same API the browser uses."""

    def __init__(self, server: LocalLabelStudio, *, email: str, password: str) -> None:
        import httpx

        self.http = httpx.Client(base_url=server.url, timeout=30.0)
        self.http.get("/user/login/").raise_for_status()
        answer = self.http.post(
            "/user/login/",
            data={"email": email, "password": password, "csrfmiddlewaretoken": self._csrf()},
            headers={"Referer": f"{server.url}/user/login/"},
        )
        assert answer.status_code == 302, f"login of {email} failed: HTTP {answer.status_code}"

    def _csrf(self) -> str:
        return self.http.cookies.get("csrftoken") or ""

    def _send(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.request(method, path, json=body, headers={"X-CSRFToken": self._csrf()})
        response.raise_for_status()
        return response.json()

    def annotate(self, task_id: int, value: str, *, lead_time: float = 4.0) -> dict[str, Any]:
        return self._send(
            "POST",
            f"/api/tasks/{task_id}/annotations",
            {"result": [choice(value)], "lead_time": lead_time, "was_cancelled": False},
        )

    def skip(self, task_id: int, *, lead_time: float = 2.0) -> dict[str, Any]:
        return self._send(
            "POST",
            f"/api/tasks/{task_id}/annotations",
            {"result": [], "lead_time": lead_time, "was_cancelled": True},
        )

    def edit(self, annotation_id: int, value: str, *, lead_time: float) -> dict[str, Any]:
        return self._send(
            "PATCH", f"/api/annotations/{annotation_id}", {"result": [choice(value)], "lead_time": lead_time}
        )

    def close(self) -> None:
        self.http.close()


def choice(value: str) -> dict[str, Any]:
    return {"from_name": "label", "to_name": "item", "type": "choices", "value": {"choices": [value]}}


def admin_headers(server: LocalLabelStudio) -> dict[str, str]:
    return {"Authorization": f"Token {server.credentials.token}"}


def project_tasks(server: LocalLabelStudio, title: str) -> list[dict[str, Any]]:
    """Every task of the project ``title`` with its annotations, read as the administrator."""
    import httpx

    with httpx.Client(base_url=server.url, headers=admin_headers(server), timeout=30.0) as http:
        projects = http.get("/api/projects", params={"page_size": 1000}).json()["results"]
        matching = [p["id"] for p in projects if p["title"] == title]
        if not matching:
            return []
        tasks: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = http.get(
                "/api/tasks",
                params={"project": matching[0], "fields": "all", "page": page, "page_size": 100},
            )
            if answer.status_code == 404:
                return tasks
            body = answer.json()
            tasks.extend(body["tasks"] if isinstance(body, dict) else body)
            if isinstance(body, dict) and len(tasks) < body.get("total", 0):
                page += 1
                continue
            return tasks


def bridge_environment(
    settings: AlstreamSettings,
    server: LocalLabelStudio,
    *,
    annotators: list[str],
    state_dir: Path,
    task_name: str,
    classes: list[str],
    **extra: str,
) -> dict[str, str]:
    """Environment of an ``alstream agent label-studio`` subprocess serving ``annotators``."""
    import json

    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.require_bootstrap(),
        "ALSTREAM_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
        "ALSTREAM_KAFKA__SESSION_TIMEOUT_MS": "6000",
        "ALSTREAM_METRICS__PORT": "0",
        "ALSTREAM_PATHS__STATE_DIR": str(state_dir),
        "ALSTREAM_TASK__NAME": task_name,
        "ALSTREAM_TASK__CLASSES": json.dumps(classes),
        "ALSTREAM_LABEL_STUDIO__URL": server.url,
        "ALSTREAM_LABEL_STUDIO__API_TOKEN": server.credentials.token,
        "ALSTREAM_LABEL_STUDIO__ANNOTATORS": json.dumps(annotators),
        "ALSTREAM_LABEL_STUDIO__CREATE_ACCOUNTS": "true",
        "ALSTREAM_LABEL_STUDIO__INITIAL_PASSWORD": ANNOTATOR_PASSWORD,
        "ALSTREAM_LABEL_STUDIO__POLL_INTERVAL_S": "0.5",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra)
    return env


def start_agent(
    name: str, env: dict[str, str], log_file: Path, *, log_level: str = "INFO"
) -> subprocess.Popen[bytes]:
    """``alstream agent NAME`` as a subprocess, its output in ``log_file``."""
    with log_file.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "alstream.cli.main", "agent", name, "--log-level", log_level],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def start_bridge(env: dict[str, str], log_file: Path) -> subprocess.Popen[bytes]:
    return start_agent("label-studio", env, log_file)


def stop_bridge(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    return process.wait(timeout=60)


def log_tail(log_file: Path, lines: int = 60) -> str:
    if not log_file.exists():
        return ""
    kept = [line for line in log_file.read_text(errors="replace").splitlines() if not line.startswith("%")]
    return f"--- last lines of {log_file.name} ---\n" + "\n".join(kept[-lines:])
