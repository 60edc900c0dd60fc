"""A local Label Studio server as a subprocess, for ``alstream demo --ui`` and the tests.

Label Studio runs from its own virtual environment (``make label-studio`` builds ``.venv-label-studio``):
the server pins its own versions of numpy, pyarrow and others, which alstream's environment must not
inherit; alstream itself needs only ``label-studio-sdk``. A first start on a new SQLite database spends
minutes on migrations, so a migrated data directory is built once per Label Studio version (under
``~/.cache/alstream``) and copied for each run, which then starts in seconds. The copy carries the
administrator's credentials, generated when the template was built.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from alstream.agents.label_studio.exceptions import LabelStudioError
from alstream.streams.embedded_broker import free_port

BIN_ENV = "ALSTREAM_LABEL_STUDIO_BIN"
REPO_ROOT = Path(__file__).resolve().parents[3]
CREDENTIALS_FILE = "alstream-credentials.json"
FIRST_START_TIMEOUT_S = 900.0  # migrations on a new database (about 3 minutes on 2 busy cores)
START_TIMEOUT_S = 180.0


class LabelStudioNotInstalled(LabelStudioError):
    """No Label Studio server executable was found; the message says how to build one."""


@dataclass(frozen=True)
class Credentials:
    email: str
    password: str
    token: str

    @staticmethod
    def generate() -> Credentials:
        return Credentials(
            email="admin@alstream.local", password=secrets.token_urlsafe(12), token=secrets.token_hex(20)
        )


def find_executable() -> Path:
    """``$ALSTREAM_LABEL_STUDIO_BIN``, else ``.venv-label-studio/bin/label-studio``, else ``label-studio``."""
    configured = os.environ.get(BIN_ENV)
    candidates = [Path(configured)] if configured else []
    candidates.append(REPO_ROOT / ".venv-label-studio" / "bin" / "label-studio")
    on_path = shutil.which("label-studio")
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise LabelStudioNotInstalled(
        "Label Studio is not installed: run `make label-studio` (builds .venv-label-studio, ~1 GB) or set "
        f"{BIN_ENV} to a label-studio executable"
    )


def installed_version(executable: Path) -> str:
    """The Label Studio version beside ``executable`` (its dist-info), to key the migrated template."""
    venv = executable.resolve().parent.parent
    for info in sorted(venv.glob("lib/python*/site-packages/label_studio-*.dist-info")):
        return info.name.removeprefix("label_studio-").removesuffix(".dist-info")
    return f"unknown-{int(executable.stat().st_mtime)}"


def _environment(data_dir: Path, credentials: Credentials) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALSTREAM_", "KAFKA_"))}
    env.update(
        {
            "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
            "LABEL_STUDIO_USERNAME": credentials.email,
            "LABEL_STUDIO_PASSWORD": credentials.password,
            "LABEL_STUDIO_USER_TOKEN": credentials.token,
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            # Only the bridge (through the organization's invite link) adds people.
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
            # Webhooks to a bridge on this machine are local addresses.
            "LABEL_STUDIO_SSRF_PROTECTION_ENABLED": "false",
            # No calls home: version checks, analytics and error reports go nowhere.
            "LATEST_VERSION_CHECK": "false",
            "COLLECT_ANALYTICS": "false",
            "SENTRY_DSN": "",
            "FRONTEND_SENTRY_DSN": "",
        }
    )
    return env


class LocalLabelStudio:
    """One server on 127.0.0.1 over ``data_dir``. ``start()`` waits until its API answers."""

    def __init__(
        self,
        *,
        data_dir: Path,
        credentials: Credentials,
        log_file: Path,
        executable: Path | None = None,
        port: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.credentials = credentials
        self.log_file = log_file
        self.executable = executable or find_executable()
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout_s: float = START_TIMEOUT_S) -> LocalLabelStudio:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        command = [
            str(self.executable),
            "start",
            "--no-browser",
            "--internal-host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.data_dir,
                env=_environment(self.data_dir, self.credentials),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout_s
        while not self._answers():
            if self.process.poll() is not None:
                raise LabelStudioError(
                    f"Label Studio exited with {self.process.returncode}; see {self.log_file}:\n{self.tail()}"
                )
            if time.monotonic() >= deadline:
                self.stop()
                raise LabelStudioError(
                    f"Label Studio did not answer on {self.url} within {timeout_s:.0f}s (a busy port makes "
                    f"it pick another one); see {self.log_file}:\n{self.tail()}"
                )
            time.sleep(1.0)
        return self

    def _answers(self) -> bool:
        request = urllib.request.Request(
            f"{self.url}/api/current-user/whoami",
            headers={"Authorization": f"Token {self.credentials.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=2.0) as response:
                return response.status == 200
        except OSError:
            return False

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, grace_s: float = 20.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def __enter__(self) -> LocalLabelStudio:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "alstream" / "label-studio"


def migrated_template(*, executable: Path | None = None, root: Path | None = None) -> Path:
    """A data directory on which this Label Studio version has run its migrations (built on first use).

    Several processes may ask at once (test workers, a demo): a file lock makes one build it.
    """
    executable = executable or find_executable()
    base = (root or cache_root()) / installed_version(executable)
    template = base / "template"
    base.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (template / CREDENTIALS_FILE).is_file():
            return template
        building = base / "building"
        shutil.rmtree(building, ignore_errors=True)
        credentials = Credentials.generate()
        server = LocalLabelStudio(
            data_dir=building,
            credentials=credentials,
            log_file=base / "first-start.log",
            executable=executable,
        )
        with server:
            server.start(timeout_s=FIRST_START_TIMEOUT_S)
        (building / CREDENTIALS_FILE).write_text(json.dumps(credentials.__dict__))
        shutil.rmtree(template, ignore_errors=True)
        building.rename(template)
    return template


def fresh_server(data_dir: Path, *, log_file: Path, executable: Path | None = None) -> LocalLabelStudio:
    """A server over a copy of the migrated template at ``data_dir`` (not started yet)."""
    executable = executable or find_executable()
    template = migrated_template(executable=executable)
    if data_dir.exists():
        shutil.rmtree(data_dir)
    shutil.copytree(template, data_dir)
    credentials = Credentials(**json.loads((data_dir / CREDENTIALS_FILE).read_text()))
    return LocalLabelStudio(
        data_dir=data_dir, credentials=credentials, log_file=log_file, executable=executable
    )
