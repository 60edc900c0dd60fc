"""Shard checkpoints: the table as of a changelog offset, written in one transaction, and a write that
fails leaves the file consistent at its older offset (restore then reads more changelog, never less)."""

from __future__ import annotations

from pathlib import Path

import pytest

from alstream.agents.router.checkpoint import Checkpointer, ShardCheckpoint, fingerprint


def test_a_checkpoint_holds_the_table_and_the_offset_it_covers(tmp_path: Path) -> None:
    checkpointer = Checkpointer(ShardCheckpoint(tmp_path / "shard-0.sqlite"))
    for offset, (key, value) in enumerate([(b"c|0|a", b"1"), (b"c|0|b", b"2"), (b"c|0|a", None)]):
        checkpointer.add(key, value)
        checkpointer.offset = offset + 1
    assert checkpointer.flush(wait=True)
    again = ShardCheckpoint(tmp_path / "shard-0.sqlite")  # what a restarted worker opens
    assert dict(again.records()) == {b"c|0|b": b"2"}  # the delete applied, last write wins
    assert again.covered() == (3, fingerprint(b"c|0|a", None))
    assert not checkpointer.flush(wait=True)  # nothing pending: nothing written


def test_fingerprints_tell_records_apart() -> None:
    assert fingerprint(b"k", b"v") != fingerprint(b"k", None)
    assert fingerprint(b"k", b"v") != fingerprint(b"kv", b"")
    assert fingerprint(b"k", b"v") == fingerprint(b"k", b"v")


def test_a_failed_write_stops_checkpointing_and_keeps_the_older_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpoint = ShardCheckpoint(tmp_path / "shard-1.sqlite")
    checkpointer = Checkpointer(checkpoint)
    checkpointer.add(b"a|1|x", b"old")
    checkpointer.offset = 1
    checkpointer.flush(wait=True)

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint, "write", broken)
    checkpointer.add(b"a|1|x", b"new")
    checkpointer.offset = 2
    checkpointer.flush(wait=True)
    assert checkpointer.failed
    monkeypatch.undo()
    checkpointer.add(b"a|1|y", b"later")  # built on the lost write: must not reach the file
    checkpointer.offset = 3
    assert not checkpointer.flush(wait=True)
    assert dict(checkpoint.records()) == {b"a|1|x": b"old"}
    assert checkpoint.covered()[0] == 1  # restore reads the changelog from offset 1 on


def test_reset_forgets_everything(tmp_path: Path) -> None:
    checkpoint = ShardCheckpoint(tmp_path / "shard-2.sqlite")
    checkpoint.write({b"k": b"v"}, offset=5, fingerprint="f")
    checkpoint.reset()
    assert dict(checkpoint.records()) == {}
    assert checkpoint.covered() == (0, "")
