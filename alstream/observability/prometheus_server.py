"""A real Prometheus server on loopback, for checking dashboards and rules against live agents.

Debian's ``prometheus`` package provides the binary (CI installs it). The server gets a generated
config (static loopback targets, one job per agent, named like production's ``alstream-<agent>``),
its own data directory and port, and is always stopped by the context manager.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType

import yaml

from alstream.exceptions import AlstreamError


class PrometheusError(AlstreamError):
    """Prometheus did not start, or answered a query with an error."""


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def scrape_config(
    targets: Mapping[str, Iterable[str]],
    *,
    rule_files: Iterable[Path] = (),
    scrape_interval: str = "1s",
) -> dict:
    """A config scraping ``{job: [host:port, ...]}`` every ``scrape_interval``, loading ``rule_files``."""
    return {
        "global": {
            "scrape_interval": scrape_interval,
            "evaluation_interval": scrape_interval,
            "scrape_timeout": scrape_interval,
        },
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": list(addresses)}]}
            for job, addresses in targets.items()
        ],
    }


class PrometheusServer:
    """``with PrometheusServer(config, workdir, port) as prom: prom.query(...)``."""

    def __init__(self, config: dict, workdir: Path, port: int, *, startup_timeout_s: float = 30.0) -> None:
        binary = prometheus_binary()
        if binary is None:
            raise PrometheusError("prometheus binary not found: apt-get install prometheus")
        self.binary = binary
        self.workdir = workdir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.config_file = workdir / "prometheus.yml"
        self.log_file = workdir / "prometheus.log"
        self.startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(yaml.safe_dump(config, sort_keys=False))

    def __enter__(self) -> PrometheusServer:
        with open(self.log_file, "ab") as log:
            self._process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config_file}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise PrometheusError(
                    f"prometheus exited with {self._process.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise PrometheusError(f"prometheus not ready after {self.startup_timeout_s}s:\n{self.log_tail()}")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        os.killpg(self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=5)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def api(self, path: str, **params: str) -> dict:
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            raise PrometheusError(
                f"{path} {params}: HTTP {exc.code}: {exc.read().decode(errors='replace')}"
            ) from exc
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        """Instant query at now: the result vector."""
        return self.api("query", query=expr)["result"]

    def query_range(self, expr: str, *, seconds: float = 300, step: str = "2s") -> list[dict]:
        now = time.time()
        return self.api("query_range", query=expr, start=f"{now - seconds:.3f}", end=f"{now:.3f}", step=step)[
            "result"
        ]

    def has_data(self, expr: str, *, seconds: float = 300) -> bool:
        """True if a range query over the last ``seconds`` has at least one real (non-NaN) point,
        which is what makes a Grafana panel show something."""
        for series in self.query_range(expr, seconds=seconds):
            if any(not math.isnan(float(value)) for _, value in series["values"]):
                return True
        return False
