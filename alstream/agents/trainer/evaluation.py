"""Metrics on the fixed validation set: accuracy, macro-F1 and per-class recall.

The primary metric name is the ML owner's one goal (``accuracy``, ``macro_f1`` or ``recall:<class>``
for a rare class); the other metrics are reported alongside so a regression elsewhere is visible.
The simulator uses these same functions, so its curves mean what the trainer's gate means.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, recall_score

from alstream.agents.trainer.committee import predict
from alstream.agents.trainer.exceptions import TrainerError
from alstream.models.artifacts import ModelBundle


@dataclass(frozen=True)
class LabeledSet:
    """Items with embeddings and their true labels (validation, seed or simulation data)."""

    item_ids: np.ndarray
    embeddings: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def load_npz(path: Path | str) -> LabeledSet:
    """Read an npz with ``item_ids``, ``embeddings`` and ``labels`` (the demo's validation / seed files)."""
    source = Path(path)
    if not source.is_file():
        raise TrainerError(
            f"labeled set {source} does not exist (check ALSTREAM_TRAINER__VALIDATION_FILE / SEED_FILE)"
        )
    with np.load(source, allow_pickle=False) as data:
        missing = {"item_ids", "embeddings", "labels"} - set(data.files)
        if missing:
            raise TrainerError(f"{source} lacks {sorted(missing)}: expected item_ids, embeddings, labels")
        return LabeledSet(
            item_ids=np.asarray(data["item_ids"]).astype(str),
            embeddings=np.asarray(data["embeddings"], dtype=np.float32),
            labels=np.asarray(data["labels"]).astype(str),
        )


def metric_values(
    truth: Sequence[str] | np.ndarray, predicted: Sequence[str] | np.ndarray, *, classes: Sequence[str]
) -> dict[str, float]:
    """accuracy, macro_f1 and recall:<class> for every class, as plain floats."""
    truth_arr = np.asarray(truth).astype(str)
    pred_arr = np.asarray(predicted).astype(str)
    labels = sorted(set(classes) | set(truth_arr.tolist()))
    values = {
        "accuracy": float(accuracy_score(truth_arr, pred_arr)),
        "macro_f1": float(f1_score(truth_arr, pred_arr, labels=labels, average="macro", zero_division=0)),
    }
    recalls = recall_score(truth_arr, pred_arr, labels=labels, average=None, zero_division=0)
    for name, value in zip(labels, recalls, strict=True):
        values[f"recall:{name}"] = float(value)
    return values


def evaluate(bundle: ModelBundle, validation: LabeledSet) -> dict[str, float]:
    """Every metric of ``bundle`` on ``validation``."""
    if validation.embeddings.shape[1] != bundle.embedding_dim:
        raise TrainerError(
            f"validation embeddings have dimension {validation.embeddings.shape[1]}, the model expects "
            f"{bundle.embedding_dim}"
        )
    return metric_values(validation.labels, predict(bundle, validation.embeddings), classes=bundle.classes)


def primary(metrics: dict[str, float], name: str) -> float:
    """The primary metric, or a clear error if the goal names a class the validation set lacks."""
    if name not in metrics:
        raise TrainerError(f"metric {name!r} is not computable here; available: {', '.join(sorted(metrics))}")
    return metrics[name]
