"""Where releases live: a local directory or an object store, through ``pyarrow.fs``.

A release is written into a temporary sibling and moved into place, so a reader never sees half a
release; writing a release id that already exists with the same content hash is a no-op.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from alstream.agents.release.exceptions import ReleaseError, ReleaseNotFound

MANIFEST = "manifest.json"
NOTES = "RELEASE_NOTES.md"


class ReleaseStore:
    """Releases under one root URI (``/path``, ``file:///path``, ``s3://bucket/prefix``, ...)."""

    def __init__(self, *, root: str | Path) -> None:
        text = str(root)
        if "://" in text:
            self.fs, self.base = pafs.FileSystem.from_uri(text)
            self.uri_prefix = text.rstrip("/")
        else:
            path = Path(text).expanduser().resolve()
            self.fs, self.base = pafs.LocalFileSystem(), str(path)
            self.uri_prefix = str(path)
        self.base = self.base.rstrip("/")

    def uri_of(self, release_id: str) -> str:
        return f"{self.uri_prefix}/{release_id}"

    def path_of(self, release_id: str) -> str:
        return f"{self.base}/{release_id}"

    def exists(self, release_id: str) -> bool:
        info = self.fs.get_file_info(f"{self.path_of(release_id)}/{MANIFEST}")
        return info.type == pafs.FileType.File

    def write(self, release_id: str, files: Mapping[str, bytes]) -> str:
        """Write every file of a release atomically (local) and return its URI; files spooled on disk
        (anything with a ``path(name)``) are copied in chunks, never read whole."""
        target = self.path_of(release_id)
        if self.exists(release_id):
            return self.uri_of(release_id)
        staging = f"{self.base}/.staging-{release_id}"
        self.fs.create_dir(staging, recursive=True)
        spooled = getattr(files, "path", None)
        for name in sorted(files):
            with self.fs.open_output_stream(f"{staging}/{name}") as handle:
                if spooled is None:
                    handle.write(files[name])
                    continue
                with open(spooled(name), "rb") as source:
                    while chunk := source.read(1 << 20):
                        handle.write(chunk)
        try:
            self.fs.move(staging, target)
        except OSError:
            if not self.exists(release_id):  # a concurrent writer of the same release won the race: fine
                raise
            self.fs.delete_dir(staging)
        return self.uri_of(release_id)

    def read_bytes(self, release_id: str, name: str) -> bytes:
        path = f"{self.path_of(release_id)}/{name}"
        try:
            with self.fs.open_input_stream(path) as handle:
                return handle.read()
        except (FileNotFoundError, OSError) as exc:
            if not self.exists(release_id):
                raise ReleaseNotFound(f"no release {release_id!r} under {self.uri_prefix}") from None
            raise ReleaseError(f"cannot read {name} of release {release_id}: {exc}") from exc

    def copy_verified(self, release_id: str, name: str, dest: Path, *, sha256: str) -> bool:
        """Copy one file of a release to ``dest`` in chunks; True if its bytes hash to ``sha256`` (what
        the release's manifest says), False if they do not or the file cannot be read."""
        digest = hashlib.sha256()
        try:
            with (
                self.fs.open_input_stream(f"{self.path_of(release_id)}/{name}") as source,
                open(dest, "wb") as out,
            ):
                while chunk := source.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
        except OSError:
            return False
        return digest.hexdigest() == sha256

    def manifest(self, release_id: str) -> dict[str, Any]:
        return json.loads(self.read_bytes(release_id, MANIFEST))

    def stored_at(self, release_id: str) -> float:
        """Unix time the release's manifest was written: when the release was built, by anyone."""
        info = self.fs.get_file_info(f"{self.path_of(release_id)}/{MANIFEST}")
        if info.type != pafs.FileType.File or info.mtime is None:
            raise ReleaseNotFound(f"no release {release_id!r} under {self.uri_prefix}")
        return info.mtime.timestamp()

    def release_ids(self) -> set[str]:
        """Ids of every complete release (a directory holding a manifest), without reading manifests."""
        try:
            entries = self.fs.get_file_info(pafs.FileSelector(self.base, allow_not_found=True))
        except OSError:
            return set()
        return {
            entry.base_name
            for entry in entries
            if entry.type == pafs.FileType.Directory
            and not entry.base_name.startswith(".")
            and self.exists(entry.base_name)
        }

    def manifests(self) -> list[dict[str, Any]]:
        """Every complete release, oldest cut-off first."""
        found = [self.manifest(release_id) for release_id in self.release_ids()]
        return sorted(found, key=lambda m: (m["created_at"], m["release_id"]))

    def latest_before(self, cutoff_iso: str) -> dict[str, Any] | None:
        """The newest release cut strictly before ``cutoff_iso`` (the parent of a release at that cut-off)."""
        earlier = [m for m in self.manifests() if m["created_at"] < cutoff_iso]
        return earlier[-1] if earlier else None

    def resolve(self, release_id: str) -> str:
        """Accept a full id, a unique prefix, or ``latest``."""
        manifests = self.manifests()
        if release_id == "latest":
            if not manifests:
                raise ReleaseNotFound(f"no releases under {self.uri_prefix} yet")
            return str(manifests[-1]["release_id"])
        matches = [m["release_id"] for m in manifests if m["release_id"].startswith(release_id)]
        if len(matches) != 1:
            raise ReleaseNotFound(
                f"{'no' if not matches else 'more than one'} release matches {release_id!r} "
                f"under {self.uri_prefix}"
            )
        return str(matches[0])
