"""The scorer's model: a ModelBundle whose estimators form the committee, hot-swapped from the models topic.

Swaps happen between batches in the scorer's own thread, so a batch is scored by exactly one model
version and no item is lost or scored twice by different versions within a batch. A model that fails
to load (missing file, SHA-256 mismatch, untrusted types, wrong dimension) is refused with a log line
and a metric; the scorer keeps the model it has.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from alstream.agents.scorer.exceptions import ModelSwapError
from alstream.agents.scorer.metrics import MODEL_SWAPS, MODEL_VALIDATION
from alstream.models.artifacts import ArtifactError, ModelBundle, load_bundle
from alstream.observability.metrics import AGENT_ERRORS
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import codec_for
from alstream.streams.exceptions import DecodeError
from alstream.streams.kafka_config import consumer_config
from alstream.streams.messages import coordinates

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
    """Follows the models topic (every partition, from the start) for announcements of one model line.

    Not a group member: every scorer instance must see every announcement. ``poll()`` never blocks
    long; the caller applies the newest announcement between batches.
    """

    def __init__(self, *, settings: AlstreamSettings, model_name: str, group_suffix: str = "") -> None:
        self.topic = settings.kafka.topic("models")
        self.model_name = model_name
        self.codec = codec_for("models", settings)
        self.consumer = Consumer(
            consumer_config(
                settings,
                group_id=f"{settings.scorer.group_id}-models-{group_suffix or id(self)}",
                **{"enable.auto.commit": False, "enable.partition.eof": True},
            )
        )
        metadata = self.consumer.list_topics(self.topic, timeout=10)
        partitions = metadata.topics[self.topic].partitions if self.topic in metadata.topics else {}
        self.consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in partitions])
        self._eof: set[int] = set()
        self._partitions = set(partitions)

    def poll(self, *, timeout_s: float = 0.0) -> dict[str, Any] | None:
        """Newest announcement for our model line among the records available now, if any."""
        newest = None
        for message in self.consumer.consume(500, timeout_s):
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    self._eof.add(coordinates(message)[1])
                else:
                    log.warning("models topic: %s", error)
                continue
            try:
                record = self.codec.decode(message.value())
            except DecodeError as exc:
                AGENT_ERRORS.labels("scorer", type(exc).__name__).inc()
                log.warning("models topic: undecodable announcement at offset %s: %s", message.offset(), exc)
                continue
            if record.get("model_name") == self.model_name:
                newest = record
        return newest

    def catch_up(self, *, deadline_s: float) -> dict[str, Any] | None:
        """Read until every partition reached its end (or the deadline): the latest announcement at start."""
        newest = None
        end = time.monotonic() + deadline_s
        while time.monotonic() < end and not self._partitions <= self._eof:
            found = self.poll(timeout_s=0.2)
            newest = found or newest
        return newest

    def close(self) -> None:
        with contextlib.suppress(KafkaException):
            self.consumer.close()


def load_announced(record: dict[str, Any], *, task_classes: list[str], embedding_dim: int) -> ActiveModel:
    """Load the artifact an announcement points at, verifying its SHA-256 when given."""
    uri = str(record["artifact_uri"])
    path = uri.removeprefix("file://")
    try:
        bundle = load_bundle(path, expected_sha256=record.get("artifact_sha256") or None)
    except ArtifactError as exc:
        raise ModelSwapError(f"model {record.get('model_version')}: {exc}") from exc
    model = ActiveModel.from_bundle(
        version=str(record["model_version"]),
        bundle=bundle,
        task_classes=task_classes,
        embedding_dim=embedding_dim,
    )
    return model


def record_swap(model: ActiveModel, record: dict[str, Any] | None, model_name: str) -> None:
    MODEL_SWAPS.inc()
    if record is not None and record.get("validation_metric") is not None:
        MODEL_VALIDATION.labels(model_name).set(float(record["validation_metric"]))
