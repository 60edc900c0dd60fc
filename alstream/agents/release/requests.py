"""On-demand builds: a request is a small JSON file the agent picks up, builds, then removes.

A file (not a Kafka topic) because the releases topic carries manifests only, and a request must
survive an agent restart: it is deleted only after its release was stored and announced.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path

from alstream.settings import AlstreamSettings


def requests_dir(settings: AlstreamSettings) -> Path:
    return Path(settings.paths.state_dir) / "release-requests"


def request_build(
    settings: AlstreamSettings, *, cutoff: datetime | None = None, reason: str = "on demand"
) -> Path:
    """Ask the running release agent for a build at ``cutoff`` (default: now)."""
    moment = (cutoff or datetime.now(UTC)).astimezone(UTC)
    directory = requests_dir(settings)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{moment:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"cutoff": moment.isoformat(), "reason": reason}))
    os.replace(tmp, path)
    return path


def pending(settings: AlstreamSettings) -> list[tuple[Path, datetime, str]]:
    """Requests waiting, oldest first; an unreadable file is renamed ``.bad`` so it never blocks others."""
    directory = requests_dir(settings)
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob("*.json")):
        try:
            payload = json.loads(path.read_text())
            found.append(
                (
                    path,
                    datetime.fromisoformat(payload["cutoff"]).astimezone(UTC),
                    str(payload.get("reason", "")),
                )
            )
        except (ValueError, KeyError, OSError):
            path.rename(path.with_suffix(".bad"))
    return found
