"""The running alstream stack every observability integration test reads, started once per package.

The stack is what an operator runs, as subprocesses: the embedded broker, the catalogue's topics, a
first model (``alstream train --seed-only``), every agent (``alstream agent NAME`` with its own
/metrics port), items (``alstream produce``), simulated annotators (``alstream annotate --auto``) and a
release (``alstream release build``) so the trainer retrains and the scorer swaps models. Prometheus
(Debian's binary) scrapes every second with the production alert rules loaded.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from alstream.demo import dataset
from alstream.demo.processes import Supervisor
from alstream.observability.prometheus_server import PrometheusServer, prometheus_binary, scrape_config
from alstream.streams.embedded_broker import free_port
from tests.support.live_stack import (
    AGENTS,
    ANNOTATORS,
    REPO,
    TRAFFIC_BUDGET_S,
    Stack,
    items_file,
    send_undecodable_records,
)


@pytest.fixture(scope="package")
def stack(
    kafka_client_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory, unique_module_id: str
) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("obs-stack")
    data = dataset.prepare(workdir / "data")
    env = {
        **kafka_client_env,
        "ALSTREAM_KAFKA__TOPIC_PREFIX": f"obs{unique_module_id}.",
        "ALSTREAM_KAFKA__SESSION_TIMEOUT_MS": "6000",
        "ALSTREAM_TASK__NAME": "digits",
        "ALSTREAM_TASK__CLASSES": json.dumps(dataset.CLASSES),
        "ALSTREAM_PATHS__STATE_DIR": str(workdir / "state"),
        "ALSTREAM_PATHS__QA_GOLD_FILE": str(data.qa_gold_file),
        "ALSTREAM_TRAINER__VALIDATION_FILE": str(data.validation_file),
        "ALSTREAM_TRAINER__SEED_FILE": str(data.seed_file),
        # Per-annotator QA error shows after this many checks; the short run gives each annotator a few.
        "ALSTREAM_LABELS__QA_ANNOTATOR_MIN_CHECKS": "2",
        # The online proof (loop vs random panel) needs held-out random-slice labels; the short run has few.
        "ALSTREAM_TRAINER__ONLINE_MIN_EVAL_LABELS": "2",
        "PYTHONUNBUFFERED": "1",
    }
    for key, relative in (
        ("ALSTREAM_PATHS__POLICY_FILE", "policies/entropy.toml"),
        ("ALSTREAM_PATHS__QUOTAS_FILE", "quotas/default.toml"),
    ):
        env[key] = str(shutil.copy(REPO / relative, workdir / Path(relative).name))
    # QA gold follows its share from an annotator's first assignment (one in 20 at the default 0.05):
    # a higher share lets the short run show QA checks and per-annotator QA error within its budget.
    quotas = Path(env["ALSTREAM_PATHS__QUOTAS_FILE"])
    quotas.write_text(quotas.read_text().replace("qa_rate = 0.05", "qa_rate = 0.25"))
    supervisor = Supervisor(log_dir=workdir / "logs", env=env)
    stack = Stack(
        supervisor=supervisor, ports={}, data=data, workdir=workdir, topic_prefix=f"obs{unique_module_id}."
    )
    try:
        code = supervisor.run_to_completion("topics", ["topics", "create", "--partitions", "2"], timeout_s=60)
        assert code == 0, supervisor.processes["topics"].tail()
        code = supervisor.run_to_completion("initial-train", ["train", "--seed-only"], timeout_s=120)
        assert code == 0, f"train --seed-only failed:\n{supervisor.processes['initial-train'].tail(30)}"
        for name in AGENTS:
            stack.ports[name] = free_port()
            supervisor.start(name, ["agent", name], metrics_port=stack.ports[name])
        supervisor.start("produce", ["produce", str(items_file(data, workdir / "items.jsonl"))])
        send_undecodable_records(kafka_client_env["KAFKA_BOOTSTRAP_SERVERS"], stack.topic_prefix)
        for annotator, accuracy in ANNOTATORS:
            supervisor.start(
                annotator,
                [
                    "annotate",
                    "--annotator",
                    annotator,
                    "--auto",
                    "--accuracy",
                    accuracy,
                    "--truth",
                    str(data.truth_file),
                ],
            )
        yield stack
    finally:
        supervisor.stop_all(grace_s=10.0)  # SIGTERM all at once, SIGKILL what is left after the grace


@pytest.fixture(scope="package")
def unique_module_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="package")
def prometheus(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    if prometheus_binary() is None:
        pytest.skip("prometheus not installed (apt-get install prometheus); CI installs it in .ci/run")
    targets = {f"alstream-{name}": [f"127.0.0.1:{port}"] for name, port in stack.ports.items()}
    rules = sorted((REPO / "deploy" / "prometheus" / "rules").glob("*.yml"))
    config = scrape_config(targets, rule_files=rules)
    with PrometheusServer(config, tmp_path_factory.mktemp("prometheus"), free_port()) as server:
        yield server


@pytest.fixture(scope="package")
def released(stack: Stack, prometheus: PrometheusServer) -> Stack:
    """Once labels flow, build a release so the release, trainer and model-swap panels get data."""
    deadline = stack.started + TRAFFIC_BUDGET_S / 2
    while time.monotonic() < deadline:
        stack.check_alive()
        # enough random-slice labels that some are held out for the trainer's online proof and some not
        if prometheus.query(
            'sum(alstream_labels_total) >= 30 and sum(alstream_labels_total{kind="random"}) >= 8'
        ):
            break
        time.sleep(2)
    # --request: the running release agent builds it, so its metrics move and the trainer retrains.
    stack.supervisor.start("release-build", ["release", "build", "--request"])
    return stack
