"""Every shell command README.md and docs/ tell a user to run, run as written against the broker.

``tests/support/doc_commands.py`` finds the commands (fenced ``bash`` blocks) and holds the short,
justified list of those that cannot run here. Each doc file's commands run in order as one bash
script, in a scratch copy of the repository (so `policies/...` and `deploy/...` resolve as they do
for a reader in a clone), with the user's own files a doc assumes (``items.jsonl``, ``truth.csv``)
made for it. A doc that tells the reader to run agents gets them started first, as the reader
would have from the README. A command that fails, or hangs, fails its doc's test.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from alstream.demo import dataset
from alstream.demo.processes import Supervisor
from alstream.streams.embedded_broker import free_port
from tests.support.doc_commands import REPO, documents, fenced_blocks, script_for
from tests.support.live_stack import items_file
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

VENV_BIN = Path(os.sys.executable).parent
SCRIPT_TIMEOUT_S = 420.0
DIGITS = json.dumps(dataset.CLASSES)


# ---- the reader's own files a doc assumes ------------------------------------------------------------


def _digits(workdir: Path) -> dataset.DemoData:
    return dataset.prepare(workdir / ".demo-data")


def write_items_jsonl(workdir: Path) -> None:
    items_file(_digits(workdir), workdir / "items.jsonl")


def write_truth_csv(workdir: Path) -> None:
    shutil.copy(_digits(workdir).truth_file, workdir / "truth.csv")


def write_ingestion_files(workdir: Path) -> None:
    """items.jsonl, batch.csv (emb_ columns) and export.parquet (f_ columns), as docs/ingestion.md shows."""
    write_items_jsonl(workdir)
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(50, 64)).astype("<f4")
    header = ["item_id", "source", *[f"emb_{i}" for i in range(64)]]
    rows = [",".join(header)]
    rows += [
        ",".join([f"csv-{n:03d}", "cam-7", *[f"{v:.5f}" for v in vector]]) for n, vector in enumerate(vectors)
    ]
    (workdir / "batch.csv").write_text("\n".join(rows) + "\n")
    columns = {"item_id": [f"pq-{n:03d}" for n in range(50)], "source": ["cam-7"] * 50}
    columns.update({f"f_{i}": vectors[:, i] for i in range(64)})
    pq.write_table(pa.table(columns), workdir / "export.parquet")


def write_readme_files(workdir: Path) -> None:
    """items.jsonl and validation.npz for the README's classes (cat, dog, bird)."""
    rng = np.random.default_rng(5)
    centres = rng.normal(scale=3.0, size=(3, 64))
    classes = np.array(["cat", "dog", "bird"])
    truth = rng.integers(0, 3, size=400)
    vectors = (centres[truth] + rng.normal(size=(400, 64))).astype("<f4")
    with open(workdir / "items.jsonl", "w") as handle:
        for n, vector in enumerate(vectors[:300]):
            record = {"item_id": f"pet-{n:04d}", "source": "readme", "embedding": vector.round(5).tolist()}
            handle.write(json.dumps(record) + "\n")
    np.savez(
        workdir / "validation.npz",
        item_ids=np.array([f"val-{n:04d}" for n in range(100)]),
        embeddings=vectors[300:],
        labels=classes[truth[300:]],
    )


def write_simulation_csv(workdir: Path) -> None:
    """data.csv for `alstream simulate --dataset data.csv --label-column label --metric recall:fraud`."""
    rng = np.random.default_rng(11)
    fraud = rng.random(600) < 0.1
    features = rng.normal(size=(600, 8)) + fraud[:, None] * 1.5
    lines = ["label," + ",".join(f"x{i}" for i in range(8))]
    lines += [
        ("fraud" if f else "ok") + "," + ",".join(f"{v:.4f}" for v in row)
        for f, row in zip(fraud, features, strict=True)
    ]
    (workdir / "data.csv").write_text("\n".join(lines) + "\n")


@dataclass(frozen=True)
class DocSetup:
    """What a doc assumes a reader already has: files, settings, and agents running (by name)."""

    files: tuple[Callable[[Path], None], ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    agents: tuple[str, ...] = ()
    produce_items: bool = False  # items on the topic before the doc's commands run
    cluster_env: bool = True  # KAFKA_BOOTSTRAP_SERVERS set, as the README's recipe leaves it


SETUPS = {
    # The README's recipe sets up its own cluster settings and starts its own agents.
    "README.md": DocSetup(files=(write_readme_files,), cluster_env=False),
    "docs/annotation-tool-contract.md": DocSetup(
        files=(write_truth_csv,),
        env={"ALSTREAM_TASK__CLASSES": DIGITS},
        agents=("scorer", "router", "labels"),
        produce_items=True,
    ),
    "docs/ingestion.md": DocSetup(files=(write_ingestion_files,)),
    "docs/releases.md": DocSetup(files=(write_simulation_csv,), env={"ALSTREAM_TASK__CLASSES": DIGITS}),
}


def doc_ids() -> list[str]:
    """Every doc with commands, but the README (its recipe has its own test below)."""
    return [
        str(path.relative_to(REPO))
        for path in documents()
        if path.name != "README.md" and any(block.language == "bash" for block in fenced_blocks(path))
    ]


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A copy of the repository as a reader's clone (its own deploy/data, state, outputs)."""
    copy = tmp_path / "clone"
    shutil.copytree(
        REPO,
        copy,
        # Not what a clone has: git's files, venvs (Label Studio's is 1.6 GB, and each test that
        # runs docs copies the tree), caches.
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv*",
            "__pycache__",
            ".pytest_cache",
            ".mypy_cache",
            ".ruff_cache",
            ".hypothesis",
            "*.egg-info",
            "demo-output",
            ".alstream",
        ),
    )
    (copy / ".venv").symlink_to(VENV_BIN.parent)
    return copy


@dataclass
class Run:
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_script(script: str, workdir: Path, env: dict[str, str]) -> Run:
    path = workdir / "doc-commands.sh"
    # Whatever way the script ends, `jobs -l` says which of the reader's background agents still ran,
    # then they are stopped.
    on_exit = (
        'trap \'status=$?; set +e; echo "=== background jobs"; jobs -l; '
        'pids=$(jobs -p); [ -n "$pids" ] && kill $pids; wait; exit $status\' EXIT\n'
    )
    path.write_text(on_exit + script)
    log = workdir / "doc-commands.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            ["bash", str(path)],
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Run(process, log)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(run: Run) -> None:
    """Stop the script and everything it started (its process group outlives a finished script):
    SIGTERM, a grace period for agents to shut down, then SIGKILL for what is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(run.process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        run.process.wait(timeout=20)
    with contextlib.suppress(AssertionError):
        wait_until(
            lambda: not _group_alive(run.process.pid), timeout_s=15, what="the script's processes to stop"
        )
    with contextlib.suppress(ProcessLookupError):
        os.killpg(run.process.pid, signal.SIGKILL)
    run.process.wait(timeout=10)


@pytest.fixture
def reader_env(kafka_client_env: dict[str, str], scratch: Path) -> dict[str, str]:
    """The environment of a reader who followed the README: the tools on PATH, a topic prefix of
    their own (the session's broker is shared), state in their clone; with the embedded broker, the
    flag `alstream broker` tells them to export (its workarounds)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ALSTREAM_") and k != "KAFKA_BOOTSTRAP_SERVERS"
    }
    env.update(
        {
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            "ALSTREAM_KAFKA__TOPIC_PREFIX": f"doc{uuid.uuid4().hex[:8]}.",
            "ALSTREAM_KAFKA__SESSION_TIMEOUT_MS": "6000",
            "ALSTREAM_PATHS__STATE_DIR": str(scratch / ".alstream"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({k: v for k, v in kafka_client_env.items() if k != "KAFKA_BOOTSTRAP_SERVERS"})
    return env


@pytest.fixture
def agents(reader_env: dict[str, str], scratch: Path) -> Iterator[Supervisor]:
    supervisor = Supervisor(log_dir=scratch / "agent-logs", env=reader_env)
    try:
        yield supervisor
    finally:
        supervisor.stop_all(grace_s=10.0)


@pytest.mark.parametrize("doc", doc_ids())
def test_documented_commands_run(
    doc: str, kafka_bootstrap: str, scratch: Path, reader_env: dict[str, str], agents: Supervisor
) -> None:
    if doc == "docs/deploy.md" and shutil.which("promtool") is None:
        pytest.skip("docs/deploy.md runs promtool: prometheus not installed (apt-get install prometheus)")
    setup = SETUPS.get(doc, DocSetup())
    env = {**reader_env, **setup.env}
    if setup.cluster_env:
        env["KAFKA_BOOTSTRAP_SERVERS"] = kafka_bootstrap
    for make in setup.files:
        make(scratch)
    agents.env = env
    if setup.cluster_env:  # the reader's cluster holds the catalogue (the README's `alstream topics create`)
        code = agents.run_to_completion("topics", ["topics", "create", "--partitions", "2"], timeout_s=60)
        assert code == 0, agents.processes["topics"].tail()
    if setup.agents or setup.produce_items:
        for name in setup.agents:
            agents.start(name, ["agent", name], metrics_port=free_port())
        if setup.produce_items:
            write_items_jsonl(scratch)
            code = agents.run_to_completion(
                "produce", ["produce", str(scratch / "items.jsonl"), "--no-progress"]
            )
            assert code == 0, agents.processes["produce"].tail()
    run = start_script(script_for(REPO / doc, bootstrap=kafka_bootstrap), scratch, env)
    try:
        wait_until(
            lambda: run.process.poll() is not None,
            timeout_s=SCRIPT_TIMEOUT_S,
            interval_s=1.0,
            what=f"{doc}'s commands to finish",
            diagnose=run.output,
        )
    finally:
        stop(run)
    assert run.process.returncode == 0, f"{doc}: a documented command failed:\n{run.output()[-6000:]}"
    for name in setup.agents:
        assert agents.processes[name].running, f"agent {name} died:\n{agents.processes[name].tail(30)}"


PORT_CLASH = re.compile(r"Address already in use|address already in use")


def test_the_readme_recipe_runs_as_written(
    kafka_bootstrap: str, scratch: Path, reader_env: dict[str, str]
) -> None:
    """`Running it against your cluster`, every line, with the reader's broker address filled in.

    Its agents run on one host with their default metrics ports, one per agent; if two of them ever
    share a port, the one that cannot bind it is named at once rather than after the recipe's timeout.
    """
    write_readme_files(scratch)
    run = start_script(script_for(REPO / "README.md", bootstrap=kafka_bootstrap), scratch, reader_env)
    try:
        wait_until(
            lambda: run.process.poll() is not None or PORT_CLASH.search(run.output()),
            timeout_s=SCRIPT_TIMEOUT_S,
            interval_s=1.0,
            what="the README recipe to finish",
            diagnose=lambda: run.output()[-6000:],
        )
        if run.process.poll() is None:  # an agent could not bind its metrics port: the rest would hang
            stop(run)
            pytest.fail(f"two of the README's agents share a default metrics port:\n{run.output()[-6000:]}")
    finally:
        stop(run)
    output = run.output()
    assert run.process.returncode == 0, f"a README command failed:\n{output[-6000:]}"
    jobs = output.rpartition("=== background jobs")[2]
    started = re.findall(r"^\[\d+\][+-]?\s+\d+\s+(\S+)", jobs, re.M)
    assert len(started) == 6, f"expected the six agents as background jobs:\n{jobs}"
    assert set(started) == {"Running"}, f"an agent stopped before the recipe's end:\n{jobs}\n{output[-6000:]}"
    assert "Traceback" not in output, output[-6000:]
