"""What a task shows: remote uris untouched, local files embedded only from under the configured root."""

from __future__ import annotations

import base64
from pathlib import Path

from alstream.agents.label_studio.payload import displayable, task_data
from tests.support.records import assignment


def test_remote_and_data_uris_pass_through(tmp_path: Path) -> None:
    for uri in ("https://x.example/a.png", "s3://b/k.png", "data:image/png;base64,AAAA", "mem://it"):
        assert displayable(uri, local_files_root=tmp_path, max_bytes=1024) == uri
    assert displayable(None, local_files_root=tmp_path, max_bytes=1024) == ""


def test_a_local_file_under_the_root_is_embedded(tmp_path: Path) -> None:
    image = tmp_path / "images" / "digit-1.png"
    image.parent.mkdir()
    image.write_bytes(b"\x89PNG fake")
    for uri in (image.as_uri(), str(image)):
        shown = displayable(uri, local_files_root=tmp_path / "images", max_bytes=1024)
        assert shown == "data:image/png;base64," + base64.b64encode(b"\x89PNG fake").decode()


def test_files_outside_the_root_too_large_or_without_a_root_are_never_read(tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("password")
    (root / "link.txt").symlink_to(secret)
    big = root / "big.png"
    big.write_bytes(b"x" * 2048)
    for uri in (secret.as_uri(), f"{root}/../secret.txt", (root / "link.txt").as_uri(), "file://evil/x.png"):
        assert displayable(uri, local_files_root=root, max_bytes=1024) == uri
    assert displayable(big.as_uri(), local_files_root=root, max_bytes=1024) == big.as_uri()
    assert displayable(secret.as_uri(), local_files_root=None, max_bytes=1024) == secret.as_uri()
    assert displayable((root / "missing.png").as_uri(), local_files_root=root, max_bytes=1024).startswith(
        "file:"
    )


def test_the_task_never_carries_the_kind() -> None:
    for kind in ("QA", "RANDOM", "CALIBRATION", "OVERLAP", "HARD"):
        data = task_data(assignment("a1", kind=kind, overlap_group="g", calibration_id="c"), item_url="u")
        assert data == {"item": "u", "item_id": "it1", "assignment_id": "a1", "annotator": "ann"}
