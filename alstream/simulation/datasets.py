"""Labeled datasets for the simulator: bundled, generated, or the team's own files.

* scikit-learn's bundled ``digits``, ``breast_cancer``, ``wine``, ``iris`` (numeric columns,
  standardised because they are raw measurements, not embeddings);
* generated shapes (:mod:`alstream.simulation.generated`): ``imbalanced``, ``many_clusters``,
  ``label_noise``, ``high_dim``;
* a file in alstream's own shapes: JSONL / CSV / Parquet as ``alstream produce`` takes it (read by
  the ingestion readers themselves: an ``embedding`` list, ``emb_0..`` columns, ``meta_<key>``
  metadata), with the label in a column or a metadata entry; or a release's ``items.parquet`` (or
  the release directory), whose consolidated ``label`` and ``embedding`` the trainer trains on.

An embedding is used as it is, as the trainer uses it; only plain numeric columns are standardised
(an unsupervised transform, so no label leaks into it). :attr:`Dataset.features_from` says which
columns became features, and the CLI prints it. Item ids are stable strings, so the fixed random
slice (a salted hash of the id) picks the same items in every run.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.preprocessing import StandardScaler

from alstream.simulation.exceptions import SimulationError
from alstream.simulation.generated import GENERATED

BUNDLED = ("digits", "breast_cancer", "wine", "iris")
NAMED = (*BUNDLED, *GENERATED)
#: item fields that are never features even when numeric
_NOT_FEATURES = {
    "item_id",
    "event_time",
    "n_labels",
    "majority_share",
    "needs_adjudication",
    "first_submitted_at",
    "last_submitted_at",
}


@dataclass(frozen=True)
class Dataset:
    name: str
    item_ids: np.ndarray  # str
    features: np.ndarray  # (n, d) float64
    labels: np.ndarray  # str
    features_from: str = ""  # which columns became features, for people to check
    default_metric: str = "accuracy"
    notes: list[str] = field(default_factory=list)  # rows skipped and why

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels.tolist()))


def load_dataset(name: str, *, label_column: str = "label", id_column: str | None = None) -> Dataset:
    """A named dataset (:data:`NAMED`), or a path to a JSONL / CSV / Parquet file or a release directory."""
    if name in BUNDLED:
        return _bundled(name)
    if name in GENERATED:
        made = GENERATED[name]()
        ids = np.asarray([f"{name}-{index:06d}" for index in range(len(made.labels))])
        return Dataset(
            name=name,
            item_ids=ids,
            features=np.asarray(made.features, dtype=np.float64),
            labels=made.labels,
            features_from=f"generated embedding ({made.features.shape[1]} values; {made.summary})",
            default_metric=made.metric,
        )
    path = Path(name)
    if path.is_dir() and (path / "items.parquet").is_file():
        path = path / "items.parquet"
    if not path.is_file():
        raise SimulationError(
            f"--dataset {name!r} is neither a named dataset ({', '.join(NAMED)}) "
            "nor an existing JSONL / CSV / Parquet file or release directory"
        )
    return _from_file(path, label_column=label_column, id_column=id_column)


def _bundled(name: str) -> Dataset:
    from sklearn import datasets

    loader = {
        "digits": datasets.load_digits,
        "breast_cancer": datasets.load_breast_cancer,
        "wine": datasets.load_wine,
        "iris": datasets.load_iris,
    }[name]
    bunch = loader()
    names = [str(n) for n in bunch.target_names]
    labels = np.asarray([names[int(t)] for t in bunch.target])
    ids = np.asarray([f"{name}-{index:06d}" for index in range(len(labels))])
    columns = [str(c) for c in getattr(bunch, "feature_names", [])] or [
        f"x{i}" for i in range(bunch.data.shape[1])
    ]
    return Dataset(
        name=name,
        item_ids=ids,
        features=_standardise(np.asarray(bunch.data, float)),
        labels=labels,
        features_from=_describe_columns(columns, standardised=True),
        default_metric="macro_f1",
    )


def _from_file(path: Path, *, label_column: str, id_column: str | None) -> Dataset:
    from alstream.ingest.exceptions import InputFileError
    from alstream.ingest.files import detect_format, read_chunks

    try:
        fmt = detect_format(path)
        records: list[dict[str, Any]] = []
        unreadable = 0
        for chunk in read_chunks(path, fmt=fmt):
            unreadable += len(chunk.problems)
            records.extend(r for r in chunk.records if r is not None)
    except InputFileError as exc:
        raise SimulationError(f"--dataset {path}: {exc}") from None
    if not records:
        raise SimulationError(f"--dataset {path}: no readable records")
    notes = [f"{unreadable} unreadable rows skipped (see `alstream produce` for why)"] if unreadable else []

    labels = [_label_of(record, label_column) for record in records]
    if all(label is None for label in labels):
        columns = sorted({key for record in records for key in record} | _metadata_keys(records))
        raise SimulationError(
            f"{path} has no label column {label_column!r} (fields: {', '.join(columns)}); pass --label-column"
        )
    unlabeled = sum(label is None for label in labels)
    if unlabeled:  # e.g. a release's open ties: the trainer skips them too
        notes.append(f"{unlabeled} rows without a {label_column!r} skipped")
        records = [r for r, label in zip(records, labels, strict=True) if label is not None]
        labels = [label for label in labels if label is not None]

    if id_column is not None and not all(id_column in r for r in records):
        raise SimulationError(f"{path}: not every row has the id column {id_column!r}")
    id_key = id_column or ("item_id" if all("item_id" in r for r in records) else None)
    if id_key is not None:
        ids = np.asarray([str(r[id_key]) for r in records])
    else:
        ids = np.asarray([f"{path.stem}-{index:06d}" for index in range(len(records))])

    if all(r.get("embedding") is not None for r in records):
        features = _embedding_matrix(path, records)
        described = f"embedding ({features.shape[1]} values per row, used as is)"
    else:
        columns = _numeric_columns(records, exclude={label_column, id_key or ""})
        if not columns:
            raise SimulationError(
                f"{path}: no features: give an `embedding` list, emb_0.. columns or numeric columns "
                f"besides {label_column!r}"
            )
        features = _standardise(np.asarray([[_number(r[c]) for c in columns] for r in records], dtype=float))
        described = _describe_columns(columns, standardised=True)
    if not np.isfinite(features).all():
        raise SimulationError(
            f"{path}: features contain missing or non-finite values; impute or drop them first"
        )
    label_array = np.asarray([str(label) for label in labels])
    if len(set(label_array.tolist())) < 2:
        raise SimulationError(f"{path}: {label_column!r} holds fewer than two classes")
    return Dataset(
        name=path.parent.name if path.name == "items.parquet" else path.stem,
        item_ids=ids,
        features=features,
        labels=label_array,
        features_from=described,
        default_metric="macro_f1",
        notes=notes,
    )


def _label_of(record: dict[str, Any], column: str) -> str | None:
    value = record.get(column)
    if value is None and isinstance(record.get("metadata"), dict):
        value = record["metadata"].get(column)
    if value is None or (isinstance(value, str) and not value):
        return None
    return str(value)


def _metadata_keys(records: list[dict[str, Any]]) -> set[str]:
    return {
        f"metadata.{k}" for r in records[:100] if isinstance(r.get("metadata"), dict) for k in r["metadata"]
    }


def _embedding_matrix(path: Path, records: list[dict[str, Any]]) -> np.ndarray:
    rows = []
    for record in records:
        value = record["embedding"]
        if isinstance(value, bytes | bytearray):
            rows.append(np.frombuffer(value, dtype="<f4"))
        else:
            rows.append(np.asarray(value, dtype=np.float64))
    dims = {len(row) for row in rows}
    if len(dims) != 1:
        raise SimulationError(f"{path}: embeddings of different lengths {sorted(dims)}")
    return np.vstack(rows).astype(np.float64)


def _number(value: Any) -> float | None:
    """A feature value as a float (CSV cells arrive as text), or None when it is not a number."""
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _numeric_columns(records: list[dict[str, Any]], *, exclude: set[str]) -> list[str]:
    return [
        key
        for key in records[0]
        if key not in exclude
        and key not in _NOT_FEATURES
        and all(_number(r.get(key)) is not None for r in records)
    ]


def _describe_columns(columns: list[str], *, standardised: bool) -> str:
    shown = ", ".join(columns[:8]) + (f", ... ({len(columns)} in all)" if len(columns) > 8 else "")
    return f"{len(columns)} numeric columns{' (standardised)' if standardised else ''}: {shown}"


def _standardise(features: np.ndarray) -> np.ndarray:
    return StandardScaler().fit_transform(features)
