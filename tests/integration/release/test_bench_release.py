"""The release benchmark runs as its docstring says, on a small history: its weekly builds start from
the previous release (the bench asserts it) and it prints its table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]


def test_the_release_benchmark_prints_its_table(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALSTREAM_", "KAFKA_"))}
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if bootstrap:  # a real cluster: the bench uses it (and its own topic prefix)
        env["KAFKA_BOOTSTRAP_SERVERS"] = bootstrap
    env["TMPDIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "bench.bench_release", "--histories", "3k:1k", "--weeks", "200,500"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    table = [line for line in result.stdout.splitlines() if line.startswith("| 3,000 | 1,000 |")]
    assert len(table) == 1, result.stdout[-3000:]
    cells = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert cells[10].split(")")[1].split("/")[0].strip() == "200"  # the week's 200 items recomputed
    assert cells[11].split(")")[1].split("/")[0].strip() == "500"
