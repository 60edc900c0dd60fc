"""What a task shows: the item's uri as something a browser can load, and the fields of the task.

Remote addresses (http, https, s3 and the like, and data: URIs) pass through untouched. A local file
(``file://`` or an absolute path) is embedded as a ``data:`` URI, but only from under the configured
``local_files_root``: the uri comes from the items topic, and a producer must not be able to make the
bridge publish ``/etc/shadow`` to every annotator. The assignment's kind never reaches the task.
"""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from alstream.agents.label_studio.api import ANNOTATOR_FIELD, ASSIGNMENT_FIELD
from alstream.agents.label_studio.labeling_config import ITEM_FIELD


def _local_path(uri: str) -> Path | None:
    if uri.startswith("file://"):
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            return None
        return Path(unquote(parsed.path))
    if uri.startswith("/"):
        return Path(uri)
    return None


def displayable(uri: str | None, *, local_files_root: Path | None, max_bytes: int) -> str:
    """``uri`` as the task's item URL: a local file under the root becomes a data: URI."""
    if not uri:
        return ""
    path = _local_path(uri)
    if path is None or local_files_root is None:
        return uri
    try:
        resolved = path.resolve(strict=True)
        root = local_files_root.resolve(strict=True)
    except (OSError, RuntimeError):
        return uri
    if not resolved.is_relative_to(root) or not resolved.is_file() or resolved.stat().st_size > max_bytes:
        return uri
    mime = mimetypes.guess_type(resolved.name)[0] or "application/octet-stream"
    if mime.startswith("text/"):
        mime += ";charset=utf-8"
    return f"data:{mime};base64,{base64.b64encode(resolved.read_bytes()).decode()}"


def task_data(assignment: dict[str, Any], *, item_url: str) -> dict[str, Any]:
    """The Label Studio task of one assignment. The kind (QA, random, calibration...) is never included:
    it would bias the answer."""
    return {
        ITEM_FIELD: item_url,
        "item_id": assignment["item_id"],
        ASSIGNMENT_FIELD: assignment["assignment_id"],
        ANNOTATOR_FIELD: assignment["annotator_id"],
    }
