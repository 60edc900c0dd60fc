"""The bank of known failures: embeddings of items the model confirmed it got wrong.

The labels agent appends confirmed failures; the scorer's ``failure_distance`` signal ranks new items
by their nearest-neighbour distance to the bank, and reloads the file when it changes (see
:meth:`FailureBank.reload_if_changed`). Saved as ``.npz`` (numpy, no pickle) and written atomically
so a reader never sees half a file. Appending an id already in the bank replaces its embedding, so
replays of the same failure do not grow the bank.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from alstream.agents.selection.exceptions import FailureBankError

_CHUNK = 4096


class FailureBank:
    """Item ids and float32 embeddings of confirmed failures, with nearest-neighbour distance."""

    def __init__(self, *, embedding_dim: int | None = None) -> None:
        self.embedding_dim = embedding_dim
        self.item_ids: list[str] = []
        self._index: dict[str, int] = {}
        self.embeddings = np.zeros((0, embedding_dim or 0), dtype=np.float32)
        self._sq_norms = np.zeros(0, dtype=np.float32)
        self.path: Path | None = None
        self._mtime_ns: int | None = None

    def __len__(self) -> int:
        return len(self.item_ids)

    @classmethod
    def load(cls, path: Path | str) -> FailureBank:
        """Read a bank saved by :meth:`save`; a missing file gives an empty bank that watches the path."""
        source = Path(path)
        bank = cls()
        bank.path = source
        if not source.exists():
            return bank
        try:
            with np.load(source, allow_pickle=False) as data:
                ids = [str(x) for x in data["item_ids"]]
                embeddings = np.asarray(data["embeddings"], dtype=np.float32)
        except (OSError, KeyError, ValueError) as exc:
            raise FailureBankError(f"failure bank {source} is unreadable: {exc}") from exc
        if embeddings.ndim != 2 or embeddings.shape[0] != len(ids):
            raise FailureBankError(
                f"failure bank {source}: {len(ids)} ids but embeddings of shape {embeddings.shape}"
            )
        bank.embedding_dim = int(embeddings.shape[1]) if len(ids) else None
        bank.embeddings = embeddings.reshape(len(ids), -1) if len(ids) else np.zeros((0, 0), np.float32)
        bank.item_ids = ids
        bank._index = {item_id: i for i, item_id in enumerate(ids)}
        bank._refresh_norms()
        bank._mtime_ns = source.stat().st_mtime_ns
        return bank

    def append(self, item_ids: Sequence[str], embeddings: np.ndarray) -> None:
        """Add failures; an id already present has its embedding replaced (idempotent on replay)."""
        e = np.asarray(embeddings, dtype=np.float32)
        if e.ndim == 1:
            e = e.reshape(1, -1)
        if e.shape[0] != len(item_ids):
            raise FailureBankError(f"append: {len(item_ids)} ids but {e.shape[0]} embeddings")
        if len(item_ids) == 0:
            return
        if self.embedding_dim is None or len(self.item_ids) == 0:
            self.embedding_dim = int(e.shape[1])
            if len(self.item_ids) == 0:
                self.embeddings = np.zeros((0, self.embedding_dim), dtype=np.float32)
        if e.shape[1] != self.embedding_dim:
            raise FailureBankError(
                f"append: embeddings have dimension {e.shape[1]}, the bank holds {self.embedding_dim}"
            )
        new_ids: list[str] = []
        new_rows: list[np.ndarray] = []
        for item_id, row in zip(item_ids, e, strict=True):
            at = self._index.get(item_id)
            if at is None:
                self._index[item_id] = len(self.item_ids) + len(new_ids)
                new_ids.append(item_id)
                new_rows.append(row)
            elif at < len(self.item_ids):
                self.embeddings[at] = row
            else:
                new_rows[at - len(self.item_ids)] = row
        if new_ids:
            self.item_ids.extend(new_ids)
            self.embeddings = np.vstack([self.embeddings, np.stack(new_rows)])
        self._refresh_norms()

    def save(self, path: Path | str | None = None) -> Path:
        """Write the bank atomically (temp file + rename) so readers never see a torn file."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise FailureBankError("save: no path given and the bank was not loaded from a file")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + f".tmp-{os.getpid()}.npz")
        np.savez(tmp, item_ids=np.asarray(self.item_ids, dtype=str), embeddings=self.embeddings)
        tmp.replace(target)
        self.path = target
        self._mtime_ns = target.stat().st_mtime_ns
        return target

    def reload_if_changed(self) -> bool:
        """Reload from ``self.path`` when the file's mtime changed; returns whether it reloaded."""
        if self.path is None or not self.path.exists():
            return False
        mtime = self.path.stat().st_mtime_ns
        if mtime == self._mtime_ns:
            return False
        fresh = FailureBank.load(self.path)
        self.__dict__.update(fresh.__dict__)
        return True

    def nearest_distance(self, embeddings: np.ndarray) -> np.ndarray:
        """Euclidean distance from each row to its nearest failure; ``inf`` when the bank is empty."""
        x = np.asarray(embeddings, dtype=np.float32)
        if x.ndim != 2:
            raise FailureBankError(f"nearest_distance needs (n, d) embeddings, got shape {x.shape}")
        if len(self.item_ids) == 0:
            return np.full(x.shape[0], np.inf)
        if x.shape[1] != self.embedding_dim:
            raise FailureBankError(
                f"embeddings have dimension {x.shape[1]}, the failure bank holds {self.embedding_dim}"
            )
        x_sq = np.einsum("ij,ij->i", x, x)
        best = np.full(x.shape[0], np.inf, dtype=np.float64)
        for start in range(0, len(self.item_ids), _CHUNK):
            bank = self.embeddings[start : start + _CHUNK]
            d2 = x_sq[:, None] - 2.0 * (x @ bank.T) + self._sq_norms[None, start : start + _CHUNK]
            best = np.minimum(best, d2.min(axis=1))
        return np.sqrt(np.maximum(best, 0.0))

    def _refresh_norms(self) -> None:
        self._sq_norms = (
            np.einsum("ij,ij->i", self.embeddings, self.embeddings)
            if len(self.item_ids)
            else np.zeros(0, np.float32)
        )
