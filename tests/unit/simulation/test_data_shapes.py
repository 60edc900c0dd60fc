"""The simulator reads alstream's own data shapes and says which columns became features."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from alstream.cli.main import app
from alstream.simulation.datasets import NAMED, load_dataset
from alstream.simulation.exceptions import SimulationError
from tests.support.releases import labeled_release, write_release

CLASSES = ["cat", "dog", "fox"]


def _blobs(n: int = 150, dim: int = 6, seed: int = 0) -> tuple[list[str], np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    labels = [CLASSES[i % 3] for i in range(n)]
    centres = {c: rng.normal(scale=3.0, size=dim) for c in CLASSES}
    features = np.stack([centres[c] + rng.normal(size=dim) for c in labels]).astype(np.float32)
    return [f"it-{i:04d}" for i in range(n)], features, labels


def _simulate(path: Path | str, out: Path, *extra: str) -> str:
    result = CliRunner().invoke(
        app,
        [
            "simulate",
            "--dataset",
            str(path),
            "--signal",
            "margin",
            "--budget",
            "40",
            "--seeds",
            "2",
            "--batch-size",
            "10",
            "--initial",
            "10",
            "--out",
            str(out),
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "summary.json").is_file() and (out / "curves.csv").is_file()
    return result.output


def test_jsonl_as_alstream_produce_takes_it_with_the_label_in_metadata(tmp_path: Path) -> None:
    ids, features, labels = _blobs()
    path = tmp_path / "items.jsonl"
    with open(path, "w") as handle:
        for item_id, vector, value in zip(ids, features, labels, strict=True):
            record = {
                "item_id": item_id,
                "source": "cam-7",
                "embedding": [float(v) for v in vector],
                "metadata": {"site": "berlin", "truth": value},
            }
            handle.write(json.dumps(record) + "\n")
    output = _simulate(path, tmp_path / "out", "--label-column", "truth")
    assert "features: embedding (6 values per row, used as is)" in output
    data = load_dataset(str(path), label_column="truth")
    assert data.item_ids[0] == "it-0000" and np.allclose(data.features, features, atol=1e-6)


def test_csv_with_numeric_columns_is_standardised_and_named(tmp_path: Path) -> None:
    ids, features, labels = _blobs()
    path = tmp_path / "table.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item_id", "width", "height", "depth", "colour", "label"])
        for item_id, vector, value in zip(ids, features, labels, strict=True):
            writer.writerow([item_id, *(f"{v:.5f}" for v in vector[:3]), "red", value])
    output = _simulate(path, tmp_path / "out")
    assert "features: 3 numeric columns (standardised): width, height, depth" in output  # not colour
    data = load_dataset(str(path))
    assert np.allclose(data.features.mean(axis=0), 0.0, atol=1e-9)


def test_csv_with_spread_embedding_columns(tmp_path: Path) -> None:
    ids, features, labels = _blobs()
    path = tmp_path / "spread.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item_id", *(f"emb_{i}" for i in range(6)), "label"])
        for item_id, vector, value in zip(ids, features, labels, strict=True):
            writer.writerow([item_id, *(f"{v:.6f}" for v in vector), value])
    assert "embedding (6 values per row" in _simulate(path, tmp_path / "out")


def test_parquet_with_an_embedding_list_column(tmp_path: Path) -> None:
    ids, features, labels = _blobs()
    path = tmp_path / "items.parquet"
    table = pa.table(
        {
            "item_id": ids,
            "embedding": pa.array([list(map(float, v)) for v in features], type=pa.list_(pa.float32())),
            "score": np.linspace(
                0, 1, len(ids)
            ),  # a numeric column that is not a feature when there is an embedding
            "label": labels,
        }
    )
    pq.write_table(table, path)
    assert "embedding (6 values per row" in _simulate(path, tmp_path / "out")


def test_a_release_directory_trains_on_its_consolidated_labels(tmp_path: Path) -> None:
    ids, features, labels = _blobs()
    with_ties: list[str | None] = list(labels)
    with_ties[5] = with_ties[17] = (
        None  # two items whose annotators tied: no label, as the trainer skips them
    )
    kinds = ["RANDOM" if i % 7 == 0 else "HARD" for i in range(len(ids))]
    release = write_release(
        labeled_release(ids, features, with_ties, kinds, classes=CLASSES), tmp_path / "releases"
    )
    output = _simulate(release, tmp_path / "out")
    assert "embedding (6 values per row" in output
    assert "2 rows without a 'label' skipped" in output
    data = load_dataset(str(release))
    assert len(data.labels) == len(ids) - 2 and set(data.classes) == set(CLASSES)
    assert data.name == release.name


def test_named_datasets_have_their_goal_metric() -> None:
    assert {
        "digits",
        "breast_cancer",
        "wine",
        "imbalanced",
        "many_clusters",
        "label_noise",
        "high_dim",
    } <= set(NAMED)
    rare = load_dataset("imbalanced")
    assert rare.default_metric == "recall:rare"
    counts = {c: int((rare.labels == c).sum()) for c in rare.classes}
    assert counts["rare"] < 0.05 * len(rare.labels)
    wide = load_dataset("high_dim")
    assert wide.features.shape[1] == 384 and np.allclose(np.linalg.norm(wide.features, axis=1), 1.0)


def test_unusable_files_say_what_to_fix(tmp_path: Path) -> None:
    path = tmp_path / "nolabel.jsonl"
    path.write_text(json.dumps({"item_id": "a", "embedding": [1.0, 2.0]}) + "\n")
    with pytest.raises(SimulationError, match="--label-column"):
        load_dataset(str(path))
    ragged = tmp_path / "ragged.jsonl"
    ragged.write_text(
        json.dumps({"item_id": "a", "embedding": [1.0, 2.0], "label": "x"})
        + "\n"
        + json.dumps({"item_id": "b", "embedding": [1.0], "label": "y"})
        + "\n"
    )
    with pytest.raises(SimulationError, match="different lengths"):
        load_dataset(str(ragged))
