"""The failure bank: append is idempotent by id, save/load round trip, reload when the file changes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from alstream.agents.selection.exceptions import FailureBankError
from alstream.agents.selection.failure_bank import FailureBank


def test_append_save_load_and_nearest(tmp_path: Path) -> None:
    bank = FailureBank()
    bank.append(["a", "b"], np.array([[0.0, 0.0], [3.0, 4.0]]))
    bank.append(["a", "c", "c"], np.array([[1.0, 0.0], [0.0, 9.0], [0.0, 8.0]]))
    assert bank.item_ids == ["a", "b", "c"]
    np.testing.assert_allclose(bank.embeddings[0], [1.0, 0.0])
    np.testing.assert_allclose(bank.embeddings[2], [0.0, 8.0])
    path = bank.save(tmp_path / "bank.npz")
    loaded = FailureBank.load(path)
    assert loaded.item_ids == ["a", "b", "c"]
    np.testing.assert_allclose(
        loaded.nearest_distance(np.array([[1.0, 1.0], [3.0, 5.0]])), [1.0, 1.0], atol=1e-5
    )


def test_reload_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "bank.npz"
    reader = FailureBank.load(path)  # missing: empty, watching the path
    assert len(reader) == 0 and not reader.reload_if_changed()
    writer = FailureBank()
    writer.append(["x"], np.ones((1, 4)))
    writer.save(path)
    os.utime(path, ns=(1, 1))
    assert reader.reload_if_changed() and len(reader) == 1
    assert not reader.reload_if_changed()


def test_dimension_mismatch_is_refused() -> None:
    bank = FailureBank()
    bank.append(["x"], np.ones((1, 4)))
    with pytest.raises(FailureBankError, match="dimension"):
        bank.append(["y"], np.ones((1, 3)))
    with pytest.raises(FailureBankError, match="dimension"):
        bank.nearest_distance(np.ones((2, 3)))
