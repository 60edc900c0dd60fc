"""Local checkpoints of a shard's state table: restore = checkpoint + the changelog's tail after it.

Why: the changelog topic holds the history of every table write; a broker that compacts it (Apache
Kafka) keeps restore proportional to the live state, one that does not (the embedded broker, Tansu)
makes restore grow with history. A checkpoint is the table as of a changelog offset, so a restore
reads the checkpoint (the live state) and only the records written after it. This is what Kafka
Streams does with its local stores and ``.checkpoint`` files.

A checkpoint is one SQLite file per shard (``<state_dir>/router/<changelog topic>/shard-<p>.sqlite``):
the table's records (key -> the changelog value bytes) and the offset it covers, plus a fingerprint
of the record just before that offset. A checkpoint whose fingerprint does not match the changelog
(the topic was recreated, the broker lost its data) is ignored and restore reads the whole changelog.
Workers that share a state directory (one host, or a shared volume) pick up each other's checkpoints
when shards move; a worker without one reads the changelog from its start.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


def fingerprint(key: bytes, value: bytes | None) -> str:
    """Identifies one changelog record (the one just before a checkpoint's offset)."""
    digest = hashlib.sha256(len(key).to_bytes(4, "big") + key)
    digest.update(b"\x00" if value is None else b"\x01" + value)
    return digest.hexdigest()


class ShardCheckpoint:
    """The checkpoint file of one shard; written from a background thread, read at restore."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # one writer at a time per file within this process

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=60.0, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("CREATE TABLE IF NOT EXISTS state (key BLOB PRIMARY KEY, value BLOB NOT NULL)")
        connection.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        return connection

    def covered(self) -> tuple[int, str]:
        """(changelog offset the checkpoint covers up to, exclusive; fingerprint of the record before it)."""
        with self._lock:
            connection = self._connect()
            try:
                rows = dict(connection.execute("SELECT name, value FROM meta").fetchall())
            finally:
                connection.close()
        return int(rows.get("offset", 0)), rows.get("fingerprint", "")

    def records(self) -> Iterator[tuple[bytes, bytes]]:
        with self._lock:
            connection = self._connect()
            try:
                yield from connection.execute("SELECT key, value FROM state")
            finally:
                connection.close()

    def write(self, changes: dict[bytes, bytes | None], *, offset: int, fingerprint: str) -> None:
        """Apply ``changes`` (None deletes) and move the covered offset, in one transaction."""
        with self._lock:
            connection = self._connect()
            try:
                with connection:
                    connection.executemany(
                        "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)",
                        [(k, v) for k, v in changes.items() if v is not None],
                    )
                    connection.executemany(
                        "DELETE FROM state WHERE key = ?", [(k,) for k, v in changes.items() if v is None]
                    )
                    connection.executemany(
                        "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                        [("offset", str(offset)), ("fingerprint", fingerprint)],
                    )
            finally:
                connection.close()

    def reset(self) -> None:
        """Forget everything (the checkpoint does not belong to the changelog the broker has)."""
        with self._lock:
            connection = self._connect()
            try:
                with connection:
                    connection.execute("DELETE FROM state")
                    connection.execute("DELETE FROM meta")
            finally:
                connection.close()


class Checkpointer:
    """Collects a shard's delivered table writes and writes them to its checkpoint in the background,
    so the router's loop never waits for the disk."""

    def __init__(self, checkpoint: ShardCheckpoint) -> None:
        self.checkpoint = checkpoint
        self.pending: dict[bytes, bytes | None] = {}
        self.offset = 0  # changelog offset the pending changes reach (exclusive)
        self.last_record: tuple[bytes, bytes | None] | None = None  # the record at offset - 1
        self._thread: threading.Thread | None = None
        self.failed = False  # a write failed: no more writes (the file stays consistent at its offset)

    def add(self, key: bytes, value: bytes | None) -> None:
        self.pending[key] = value
        self.last_record = (key, value)

    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def flush(self, *, wait: bool = False) -> bool:
        """Start writing what is pending (when no write is running); with ``wait``, write and wait.
        Returns whether a write was started."""
        if self.busy():
            if not wait:
                return False
            self.join()
        if self.failed:
            self.pending.clear()
            return False
        if not self.pending or self.last_record is None:
            return False
        changes, self.pending = self.pending, {}
        offset, mark = self.offset, fingerprint(*self.last_record)

        def write() -> None:
            try:
                self.checkpoint.write(changes, offset=offset, fingerprint=mark)
            except Exception as exc:  # noqa: BLE001 - a checkpoint is an optimisation: the changelog has it all
                # The failed transaction left the file as it was (consistent at its older offset); later
                # writes would build on a gap, so this shard stops checkpointing until it is restored.
                self.failed = True
                log.warning(
                    "router checkpoint %s not written (%s); restore reads more of the changelog",
                    self.checkpoint.path,
                    exc,
                )

        self._thread = threading.Thread(target=write, name="router-checkpoint", daemon=True)
        self._thread.start()
        if wait:
            self.join()
        return True

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
