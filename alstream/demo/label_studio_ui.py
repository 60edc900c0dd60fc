"""``alstream demo --ui``: a person labels the demo's digits in Label Studio beside the simulated annotators.

Starts a local Label Studio (``make label-studio`` installs it; its first start migrates a database
once, later starts take seconds), runs the bridge agent for one human annotator, and prints where to log
in. The digits reach the browser as PNG files the demo writes under ``data/images``; the items' uris
point at them and the bridge embeds them in the tasks as data: URIs (``local_files_root``), so no file
server is involved.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from alstream.agents.label_studio.api import connect
from alstream.agents.label_studio.local_server import (
    CREDENTIALS_FILE,
    LocalLabelStudio,
    cache_root,
    find_executable,
    fresh_server,
    installed_version,
)


@dataclass(frozen=True)
class UiLogin:
    url: str
    project_title: str
    annotator_id: str
    email: str
    password: str


class LabelStudioUi:
    """The Label Studio server of one demo run and the bridge's settings for it."""

    def __init__(
        self, *, output_dir: Path, log_dir: Path, images_dir: Path, annotator_id: str, task_name: str
    ):
        self.output_dir = output_dir
        self.log_dir = log_dir
        self.images_dir = images_dir
        self.annotator_id = annotator_id
        self.task_name = task_name
        self.password = secrets.token_urlsafe(9)
        self.server: LocalLabelStudio | None = None

    def start(self, console: Console) -> None:
        executable = find_executable()  # fails with `make label-studio` in the message when missing
        template = cache_root() / installed_version(executable) / "template" / CREDENTIALS_FILE
        if not template.is_file():
            console.print(
                "[yellow]Label Studio's first start migrates its database (about 3 minutes, once per "
                "version); later demos start it in seconds.[/yellow]"
            )
        self.server = fresh_server(
            self.output_dir / "label-studio",
            log_file=self.log_dir / "label-studio.log",
            executable=executable,
        )
        self.server.start()
        # The login printed next must work at once, not only after the person's first assignment.
        api = connect(url=self.server.url, token=self.server.credentials.token, timeout_s=30.0)
        api.create_account(email=f"{self.annotator_id}@alstream.local", password=self.password)

    def bridge_environment(self) -> dict[str, str]:
        assert self.server is not None
        return {
            "ALSTREAM_LABEL_STUDIO__URL": self.server.url,
            "ALSTREAM_LABEL_STUDIO__API_TOKEN": self.server.credentials.token,
            "ALSTREAM_LABEL_STUDIO__ANNOTATORS": json.dumps([self.annotator_id]),
            "ALSTREAM_LABEL_STUDIO__CREATE_ACCOUNTS": "true",
            "ALSTREAM_LABEL_STUDIO__INITIAL_PASSWORD": self.password,
            "ALSTREAM_LABEL_STUDIO__DATA_TYPE": "image",
            "ALSTREAM_LABEL_STUDIO__LOCAL_FILES_ROOT": str(self.images_dir),
            "ALSTREAM_LABEL_STUDIO__POLL_INTERVAL_S": "1.0",
            "ALSTREAM_LABEL_STUDIO__IDLE_TIMEOUT_S": "300",
        }

    def project_ready(self) -> bool:
        """Whether the bridge has made the project the printed login sends the person to."""
        import httpx

        assert self.server is not None
        headers = {"Authorization": f"Token {self.server.credentials.token}"}
        with httpx.Client(base_url=self.server.url, headers=headers, timeout=30.0) as client:
            response = client.get("/api/projects", params={"page_size": 1000})
            response.raise_for_status()
            body = response.json()
        projects = body.get("results", []) if isinstance(body, dict) else body
        return any(p.get("title") == f"alstream: {self.task_name}" for p in projects)

    def login(self) -> UiLogin:
        assert self.server is not None
        return UiLogin(
            url=self.server.url,
            project_title=f"alstream: {self.task_name}",
            annotator_id=self.annotator_id,
            email=f"{self.annotator_id}@alstream.local",
            password=self.password,
        )

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def print_login(console: Console, login: UiLogin) -> None:
    console.print(
        f"\n[bold]Label Studio[/bold] at [link={login.url}]{login.url}[/link]\n"
        f"  log in as {login.email} / {login.password}\n"
        f"  open the project [bold]{login.project_title}[/bold], pick the tab [bold]{login.annotator_id}"
        "[/bold] (your queue), click [bold]Label All Tasks[/bold] and label the digits; the simulated "
        "annotators keep working beside you.\n"
    )
