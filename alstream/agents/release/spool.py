"""A release's files on local disk while it is built: hashed and stored from there, never held whole.

:class:`SpooledFiles` is a read-only mapping name -> bytes (what callers and tests read), backed by
files in a private temporary directory removed when the mapping is garbage-collected;
:meth:`ReleaseStore.write` copies them in chunks.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path

CHUNK = 1 << 20
PREFIXES = ("alstream-release-", "alstream-full-build-")  # the spool's and a --full build's scratch ledger


class SpooledFiles(Mapping[str, bytes]):
    def __init__(self, parent_dir: str | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=PREFIXES[0], dir=parent_dir))
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(self.dir), True)

    def path(self, name: str) -> Path:
        if name not in self._names():
            raise KeyError(name)
        return self.dir / name

    def new_path(self, name: str) -> Path:
        return self.dir / name

    def put(self, name: str, data: bytes) -> None:
        (self.dir / name).write_bytes(data)

    def sha256(self, name: str) -> str:
        digest = hashlib.sha256()
        with open(self.path(name), "rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()

    def _names(self) -> list[str]:
        return sorted(p.name for p in self.dir.iterdir()) if self.dir.exists() else []

    def __getitem__(self, name: str) -> bytes:
        return self.path(name).read_bytes()

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def cleanup(self) -> None:
        self._finalizer()


def remove_stale(parent_dir: str | Path, *, older_than_s: float = 24 * 3600.0) -> int:
    """Remove build scratch directories a killed process left under ``parent_dir`` (the state dir);
    only old ones, so a build running in another process keeps its own. Returns how many."""
    import time

    parent = Path(parent_dir)
    if not parent.is_dir():
        return 0
    removed = 0
    for entry in parent.iterdir():
        if (
            entry.is_dir()
            and entry.name.startswith(PREFIXES)
            and time.time() - entry.stat().st_mtime > older_than_s
        ):
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
    return removed
