"""One training run: data, fit, evaluate on the fixed validation set, gate, save, publish.

The gate compares the new model with the current one *on the same validation set today* (the current
artifact is re-evaluated when it can be loaded; otherwise its announced metric is used). A model
worse by more than ``tolerance`` is refused: not saved as current, not announced, logged with the
numbers, and appended to ``<state_dir>/models/refusals.jsonl`` so the ML owner can see why.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from confluent_kafka import KafkaError, Message, Producer

from alstream.agents.trainer import online
from alstream.agents.trainer.committee import fit_committee
from alstream.agents.trainer.evaluation import LabeledSet, evaluate, load_npz, primary
from alstream.agents.trainer.exceptions import PublishFailed, TrainerError
from alstream.agents.trainer.metrics import TRAINER_RUNS, TRAINER_VALIDATION_METRIC
from alstream.models.artifacts import save_bundle
from alstream.models.store import ModelStore, store_root
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import codec_for
from alstream.streams.kafka_config import producer_config

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingSet:
    item_ids: np.ndarray
    embeddings: np.ndarray
    labels: np.ndarray
    sources: dict[str, int] = field(default_factory=dict)
    from_labels: int = 0  # rows that came from human labels (a release / label batch), not the seed set


@dataclass(frozen=True)
class TrainOutcome:
    published: bool
    model_version: str | None
    metric_name: str
    metric: float
    current_version: str | None
    current_metric: float | None
    metrics: dict[str, float]
    reason: str
    artifact: Path | None = None
    record: dict[str, Any] | None = None
    proof: online.OnlineProof | None = None
    proof_note: str = ""


def models_dir(settings: AlstreamSettings) -> Path:
    """The model store's root: the trainer writes artifacts here, the scorer loads only from here."""
    return store_root(settings.paths.state_dir)


def validation_set(settings: AlstreamSettings) -> LabeledSet:
    if settings.trainer.validation_file is None:
        raise TrainerError(
            "no fixed validation set: set ALSTREAM_TRAINER__VALIDATION_FILE to an npz "
            "with item_ids, embeddings, labels"
        )
    return load_npz(settings.trainer.validation_file)


def assemble(
    parts: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]],
    *,
    validation: LabeledSet,
    held_out: set[str] | None = None,
) -> TrainingSet:
    """Concatenate (name, ids, embeddings, labels) parts; later parts win per item; validation ids
    and ``held_out`` ids (the online proof's evaluation labels) are dropped."""
    proof_only = set(held_out or ())
    held_out = set(validation.item_ids.tolist()) | proof_only
    rows: dict[str, tuple[np.ndarray, str, bool]] = {}
    sources: dict[str, int] = {}
    for name, ids, embeddings, labels in parts:
        sources[name] = len(ids)
        for item_id, embedding, label in zip(ids.tolist(), embeddings, labels.tolist(), strict=True):
            rows[str(item_id)] = (np.asarray(embedding, dtype=np.float32), str(label), name != "seed")
    leaked = sorted(held_out & set(rows))
    for item_id in leaked:
        del rows[item_id]
    sources["dropped_validation_items"] = len([i for i in leaked if i not in proof_only])
    if proof_only:
        sources["held_out_for_online_proof"] = len([i for i in leaked if i in proof_only])
    ordered = sorted(rows)
    if not ordered:
        raise TrainerError(
            "nothing to train on: the release has no trainable items and no seed set is configured"
        )
    return TrainingSet(
        item_ids=np.asarray(ordered),
        embeddings=np.stack([rows[i][0] for i in ordered]),
        labels=np.asarray([rows[i][1] for i in ordered]),
        sources=sources,
        from_labels=sum(1 for i in ordered if rows[i][2]),
    )


def seed_set(settings: AlstreamSettings) -> LabeledSet | None:
    return load_npz(settings.trainer.seed_file) if settings.trainer.seed_file is not None else None


def training_set(
    settings: AlstreamSettings,
    *,
    validation: LabeledSet,
    release: tuple[str, np.ndarray, np.ndarray, np.ndarray] | None,
    held_out: set[str] | None = None,
) -> TrainingSet:
    parts = []
    seed = seed_set(settings)
    if seed is not None:
        parts.append(("seed", seed.item_ids, seed.embeddings, seed.labels))
    if release is not None:
        parts.append(release)
    return assemble(parts, validation=validation, held_out=held_out)


def held_out_ids(settings: AlstreamSettings, history: online.LabelHistory | None) -> set[str]:
    """Random-slice items the online proof evaluates on: no published model trains on them."""
    if history is None:
        return set()
    mask = online.held_out_mask(history.item_ids, history.kinds, settings.trainer.online_held_out_share)
    return set(history.item_ids[mask].tolist())


def current_metric(settings: AlstreamSettings, validation: LabeledSet) -> tuple[str | None, float | None]:
    """(version, metric) of the model the scorer serves now, measured on today's validation set.

    That is the newest announcement whose artifact loads and matches its digest: the scorer refuses
    any other and keeps the model it had, so an announcement with a broken or forged artifact is never
    the bar (its claimed metric would otherwise refuse every later model). (None, None) when no
    announced artifact loads."""
    from alstream.agents.release.sources import read_topic

    name = settings.trainer.model_name
    records = sorted(
        (r for r in read_topic(settings, "models", agent="trainer").records if r["model_name"] == name),
        key=lambda r: r["created_at"],
        reverse=True,
    )
    for record in records:
        try:
            bundle = ModelStore.of(settings).load_announced(record)  # the scorer's loader
            return record["model_version"], primary(evaluate(bundle, validation), settings.trainer.metric)
        except Exception as exc:  # noqa: BLE001 - an artifact that does not load, whatever the error
            log.warning(
                "announced model %s is not the current one: its artifact does not load (%s: %s)",
                record["model_version"],
                type(exc).__name__,
                exc,
            )
    return None, None


def train_once(
    settings: AlstreamSettings,
    *,
    release: tuple[str, np.ndarray, np.ndarray, np.ndarray] | None = None,
    release_id: str | None = None,
    history: online.LabelHistory | None = None,
    force: bool = False,
    publish: bool = True,
) -> TrainOutcome:
    """Train, evaluate, gate and (if it passes) save and announce one model version.

    With ``history`` (the release's labels with their kinds and times) the run also measures the
    online proof (:mod:`alstream.agents.trainer.online`): its held-out random-slice labels are kept
    out of the training set.
    """
    config = settings.trainer
    validation = validation_set(settings)
    data = training_set(
        settings, validation=validation, release=release, held_out=held_out_ids(settings, history)
    )
    bundle = fit_committee(
        data.embeddings,
        data.labels,
        members=config.committee,
        random_state=config.random_state,
        metadata={
            "model_name": config.model_name,
            "trained_on_release": release_id or "",
            "train_items": str(len(data.labels)),
        },
        reference=validation.embeddings,
    )
    metrics = evaluate(bundle, validation)
    value = primary(metrics, config.metric)
    TRAINER_VALIDATION_METRIC.set(value)
    proof, proof_note = _online_proof(settings, history, bundle, validation, release_id, publish=publish)
    current_version, current = current_metric(settings, validation) if publish else (None, None)
    if current is not None and value < current - config.tolerance and not force:
        reason = (
            f"refused: {config.metric} {value:.4f} is worse than the current model {current_version} "
            f"({current:.4f}) by more than the tolerance {config.tolerance}"
        )
        log.warning("trainer %s", reason)
        TRAINER_RUNS.labels("refused").inc()
        _append_refusal(settings, reason, release_id, value, current_version, current)
        return TrainOutcome(
            False,
            None,
            config.metric,
            value,
            current_version,
            current,
            metrics,
            reason,
            proof=proof,
            proof_note=proof_note,
        )
    if not publish:
        reason = f"evaluated only (not saved, not announced): {config.metric} {value:.4f}"
        return TrainOutcome(
            False, None, config.metric, value, None, None, metrics, reason, proof=proof, proof_note=proof_note
        )
    now = datetime.now(UTC)
    directory = models_dir(settings) / config.model_name
    staging = directory / f".staging-{now:%Y%m%dT%H%M%S%f}.skops"
    sha = save_bundle(bundle, staging)
    version = f"{config.model_name}-{now:%Y%m%dT%H%M%SZ}-{sha[:8]}"
    artifact = (directory / f"{version}.skops").resolve()
    staging.replace(artifact)
    record = {
        "model_name": config.model_name,
        "model_version": version,
        "artifact_uri": str(artifact),
        "artifact_sha256": sha,
        "classes": list(bundle.classes),
        "embedding_dim": bundle.embedding_dim,
        "trained_on_release": release_id,
        "validation_metric_name": config.metric,
        "validation_metric": value,
        # Besides the validation metrics: how much data it learned from (the demo's learning curve).
        "metrics": {
            **metrics,
            "training_items": float(len(data.labels)),
            "training_labels": float(data.from_labels),
            **(proof.as_metrics() if proof is not None else {}),
        },
        "created_at": now,
    }
    publish_model(settings, record)
    TRAINER_RUNS.labels("published").inc()
    reason = f"published {version}: {config.metric} {value:.4f}" + (
        f" (current {current_version}: {current:.4f})" if current is not None else " (first model)"
    )
    log.info("trainer %s on %d items %s", reason, len(data.labels), data.sources)
    return TrainOutcome(
        True,
        version,
        config.metric,
        value,
        current_version,
        current,
        metrics,
        reason,
        artifact,
        record,
        proof=proof,
        proof_note=proof_note,
    )


def _online_proof(
    settings: AlstreamSettings,
    history: online.LabelHistory | None,
    served: Any,
    validation: LabeledSet,
    release_id: str | None,
    *,
    publish: bool,
) -> tuple[online.OnlineProof | None, str]:
    """Measure the loop against random on held-out random-slice labels; record and export it."""
    config = settings.trainer
    if history is None or config.online_held_out_share <= 0:
        return None, "no label history with this run" if history is None else "online proof turned off"
    held_validation = set(validation.item_ids.tolist())
    keep = np.asarray([item not in held_validation for item in history.item_ids.tolist()], dtype=bool)
    proof, note = online.measure(
        history.take(np.flatnonzero(keep)),
        served=served,
        seed=seed_set(settings),
        committee=config.committee,
        metric=config.metric,
        held_out_share=config.online_held_out_share,
        min_eval_labels=config.online_min_eval_labels,
        random_state=config.random_state,
        release_id=release_id,
    )
    if proof is None:
        log.info("online proof not measured: %s", note)
        return None, note
    log.info(
        "online proof on %d held-out random-slice labels: loop %.4f vs random %.4f with %d labels each "
        "(served model %.4f)",
        proof.eval_labels,
        proof.loop,
        proof.random,
        proof.training_labels,
        proof.served,
    )
    if publish:
        online.record(proof, models_dir(settings) / config.model_name)
        online.export(proof)
    return proof, note


def publish_model(
    settings: AlstreamSettings, record: dict[str, Any], *, timeout_s: float | None = None
) -> None:
    """Announce a model version on the models topic (key: model name) and wait for the acknowledgement."""
    codec = codec_for("models", settings)
    producer = Producer(producer_config(settings))
    failures: list[str] = []

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failures.append(str(err))

    producer.produce(
        settings.kafka.topic("models"),
        key=record["model_name"],
        value=codec.encode(record),
        on_delivery=delivered,
    )
    # through an outage as long as the producer itself retries (kafka.outage_tolerance_s)
    if producer.flush(settings.kafka.outage_tolerance_s if timeout_s is None else timeout_s) or failures:
        raise PublishFailed(
            f"model {record['model_version']} saved but not announced: {failures or 'timed out'}"
        )


def _append_refusal(
    settings: AlstreamSettings,
    reason: str,
    release_id: str | None,
    value: float,
    current_version: str | None,
    current: float | None,
) -> None:
    path = models_dir(settings) / "refusals.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {
        "at": datetime.now(UTC).isoformat(),
        "model_name": settings.trainer.model_name,
        "release_id": release_id,
        "metric": settings.trainer.metric,
        "value": value,
        "current_version": current_version,
        "current_value": current,
        "reason": reason,
    }
    with open(path, "a") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")
