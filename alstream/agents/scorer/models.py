"""The scorer's model: a ModelBundle whose estimators form the committee, hot-swapped from the models topic.

Swaps happen between batches in the scorer's own thread, so a batch is scored by exactly one model
version and no item is lost or scored twice by different versions within a batch. A model that fails
to load for any reason (missing file, not a zip, no or a wrong SHA-256, outside the model store, types
outside the committee allow-list, wrong dimension) is refused with a log line and a metric, its
announcement is dead-lettered, and the scorer keeps the model it has.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from confluent_kafka import Message

from alstream.agents.scorer.exceptions import ModelSwapError
from alstream.agents.scorer.metrics import MODEL_SWAPS, MODEL_VALIDATION
from alstream.models.artifacts import ModelBundle
from alstream.models.store import ModelStore
from alstream.streams.codecs import RecordCodec

log = logging.getLogger(__name__)


@dataclass
class ActiveModel:
    """One loaded model version and how its classes map onto the task's class order."""

    version: str
    bundle: ModelBundle
    classes: list[str]  # output column order (the task's classes when configured)

    @classmethod
    def from_bundle(
        cls, *, version: str, bundle: ModelBundle, task_classes: list[str], embedding_dim: int
    ) -> ActiveModel:
        if bundle.embedding_dim != embedding_dim:
            raise ModelSwapError(
                f"model {version} expects {bundle.embedding_dim}-dim embeddings, items carry {embedding_dim} "
                "(ingest.embedding_dim)"
            )
        if not bundle.estimators:
            raise ModelSwapError(f"model {version} has no estimators")
        classes = list(task_classes) if task_classes else list(bundle.classes)
        unknown = set(bundle.classes) - set(classes)
        if unknown:
            raise ModelSwapError(
                f"model {version} predicts classes the task does not have: {sorted(unknown)}"
            )
        return cls(version=version, bundle=bundle, classes=classes)

    def committee(self, embeddings: np.ndarray) -> list[np.ndarray]:
        """One (n, k) probability array per estimator, columns in ``self.classes`` order."""
        index = {c: i for i, c in enumerate(self.classes)}
        out = []
        for est in self.bundle.estimators:
            raw = np.asarray(est.predict_proba(embeddings), dtype=np.float64)
            est_classes = getattr(est, "classes_", None)
            names = [str(c) for c in est_classes] if est_classes is not None else []
            if not all(n in index for n in names):  # estimator trained on label indices: bundle order
                names = list(self.bundle.classes)[: raw.shape[1]]
            full = np.zeros((raw.shape[0], len(self.classes)), dtype=np.float64)
            full[:, [index[n] for n in names]] = raw
            out.append(full)
        return out


class ModelWatcher:
    """The newest announcement of one model line on the models topic, as a side reader feeds it.

    Every scorer instance sees every announcement (the runtime's side reader follows the whole topic
    outside the consumer group); the scorer applies the newest one between batches.
    """

    def __init__(self, *, codec: RecordCodec, model_name: str) -> None:
        self.codec = codec
        self.model_name = model_name
        self._newest: tuple[dict[str, Any], Message] | None = None
        self.last_message: Message | None = None  # the record :meth:`poll` returned last

    def observe(self, message: Message) -> None:
        """Note one models-topic record (a record that does not decode raises: the reader dead-letters it)."""
        record = self.codec.decode(message.value())
        if record.get("model_name") == self.model_name:
            self._newest = (record, message)

    def poll(self) -> dict[str, Any] | None:
        """The newest announcement seen since the last call, if any."""
        if self._newest is None:
            return None
        (record, self.last_message), self._newest = self._newest, None
        return record


def load_announced(
    record: dict[str, Any], *, store: ModelStore, task_classes: list[str], embedding_dim: int
) -> ActiveModel:
    """Load the artifact an announcement names, through the model store (the trainer's loader too):
    an :class:`~alstream.models.artifacts.ArtifactError` subclass says why one is refused."""
    bundle = store.load_announced(record)
    return ActiveModel.from_bundle(
        version=str(record["model_version"]),
        bundle=bundle,
        task_classes=task_classes,
        embedding_dim=embedding_dim,
    )


def record_swap(model: ActiveModel, record: dict[str, Any] | None, model_name: str) -> None:
    MODEL_SWAPS.inc()
    if record is not None and record.get("validation_metric") is not None:
        MODEL_VALIDATION.labels(model_name).set(float(record["validation_metric"]))
