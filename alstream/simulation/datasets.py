"""Labeled datasets for the simulator: scikit-learn's bundled ones, or any CSV / Parquet file.

Features are standardised (an unsupervised transform, so no label leaks into it) because the
committee's linear member expects comparable scales. Item ids are stable strings, so the fixed random
slice (a salted hash of the id) picks the same items in every run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sklearn.preprocessing import StandardScaler

from alstream.simulation.exceptions import SimulationError

BUNDLED = ("digits", "breast_cancer", "wine")


@dataclass(frozen=True)
class Dataset:
    name: str
    item_ids: np.ndarray  # str
    features: np.ndarray  # (n, d) float64, standardised
    labels: np.ndarray  # str

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels.tolist()))


def load_dataset(name: str, *, label_column: str = "label", id_column: str | None = None) -> Dataset:
    """``digits`` / ``breast_cancer`` / ``wine``, or a path to a ``.csv`` / ``.parquet`` file."""
    if name in BUNDLED:
        return _bundled(name)
    path = Path(name)
    if not path.is_file():
        raise SimulationError(
            f"--dataset {name!r} is neither a bundled dataset ({', '.join(BUNDLED)}) "
            "nor an existing CSV/Parquet file"
        )
    return _from_table(path, _read_table(path), label_column=label_column, id_column=id_column)


def _bundled(name: str) -> Dataset:
    from sklearn import datasets

    loader = {
        "digits": datasets.load_digits,
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
    }[name]
    bunch = loader()
    names = [str(n) for n in bunch.target_names]
    labels = np.asarray([names[int(t)] for t in bunch.target])
    ids = np.asarray([f"{name}-{index:06d}" for index in range(len(labels))])
    return Dataset(
        name=name, item_ids=ids, features=_standardise(np.asarray(bunch.data, float)), labels=labels
    )


def _read_table(path: Path) -> pa.Table:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pacsv.read_csv(path)
    if suffix in (".parquet", ".pq"):
        return pq.read_table(path)
    raise SimulationError(f"--dataset {path}: only .csv and .parquet files are supported")


def _from_table(path: Path, table: pa.Table, *, label_column: str, id_column: str | None) -> Dataset:
    if label_column not in table.column_names:
        raise SimulationError(
            f"{path} has no column {label_column!r} (columns: {', '.join(table.column_names)}); "
            "pass --label-column"
        )
    labels_col = table.column(label_column)
    if labels_col.null_count:
        raise SimulationError(
            f"{path}: {labels_col.null_count} rows have no {label_column!r}; drop them first"
        )
    labels = np.asarray([str(v) for v in labels_col.to_pylist()])
    if id_column is not None:
        if id_column not in table.column_names:
            raise SimulationError(f"{path} has no id column {id_column!r}")
        ids = np.asarray([str(v) for v in table.column(id_column).to_pylist()])
    else:
        ids = np.asarray([f"{path.stem}-{index:06d}" for index in range(len(labels))])
    feature_columns = [
        c
        for c in table.column_names
        if c not in (label_column, id_column)
        and (
            pa.types.is_integer(table.schema.field(c).type)
            or pa.types.is_floating(table.schema.field(c).type)
        )
    ]
    if not feature_columns:
        raise SimulationError(f"{path}: no numeric feature columns besides {label_column!r}")
    columns = [table.column(c).to_numpy(zero_copy_only=False).astype(float) for c in feature_columns]
    features = np.column_stack(columns)
    if np.isnan(features).any():
        raise SimulationError(f"{path}: numeric features contain missing values; impute or drop them first")
    if len(set(labels.tolist())) < 2:
        raise SimulationError(f"{path}: column {label_column!r} has fewer than two classes")
    return Dataset(name=path.stem, item_ids=ids, features=_standardise(features), labels=labels)


def _standardise(features: np.ndarray) -> np.ndarray:
    return StandardScaler().fit_transform(features)
