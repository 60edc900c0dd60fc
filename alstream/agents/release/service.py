"""One release build against the cluster: read, build, store, announce. Used by the agent and the CLI.

Idempotent: a release already stored under its id is not rewritten, and the announcement (keyed by
release id on a compacted topic) is always sent again, so a crash between storing and announcing is
healed by the next attempt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from confluent_kafka import KafkaError, Message, Producer

from alstream.agents.release.builder import (
    BuiltRelease,
    ModelSnapshot,
    ReleaseInputs,
    announcement,
    build_release,
    iso,
)
from alstream.agents.release.exceptions import ReleaseError
from alstream.agents.release.quality import read_gold
from alstream.agents.release.sources import latest_model_record, read_topic
from alstream.agents.release.storage import ReleaseStore
from alstream.agents.trainer.online import from_metrics as online_from_metrics
from alstream.contracts.labels import LabelRules
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import codec_for
from alstream.streams.kafka_config import producer_config

log = logging.getLogger(__name__)


def store_for(settings: AlstreamSettings) -> ReleaseStore:
    root = settings.release.root_uri or str(Path(settings.paths.state_dir) / "releases")
    return ReleaseStore(root=root)


@dataclass(frozen=True)
class BuildOutcome:
    release: BuiltRelease
    uri: str
    created: bool


def gather_inputs(settings: AlstreamSettings, *, cutoff: datetime) -> ReleaseInputs:
    """Labels, assignments and embeddings from their topics; the serving model's metric at the cut-off."""
    labels = read_topic(settings, "labels").records
    assignments = read_topic(settings, "assignments").records
    embeddings: dict[str, bytes] = {}
    for candidate in read_topic(settings, "candidates").records:  # later records win
        if candidate["selected_at"] <= cutoff:  # nothing after the cut-off may change the bytes
            embeddings[candidate["item_id"]] = candidate["embedding"]
    model = latest_model_record(settings, settings.release.model_name, not_after=cutoff)
    snapshot = (
        ModelSnapshot(
            model["model_version"],
            model["validation_metric_name"],
            float(model["validation_metric"]),
            online=online_from_metrics(model.get("metrics") or {}),
        )
        if model
        else None
    )
    gold_file = settings.paths.qa_gold_file
    return ReleaseInputs(
        labels=labels,
        assignments=assignments,
        embeddings=embeddings,
        qa_gold=read_gold(str(gold_file) if gold_file else None),
        model=snapshot,
    )


def build_and_announce(
    settings: AlstreamSettings,
    *,
    cutoff: datetime,
    inputs: ReleaseInputs | None = None,
    announce: bool = True,
    skip_empty: bool = False,
) -> BuildOutcome | None:
    """Build, store and announce the release at ``cutoff``; ``skip_empty`` returns None when no
    label is valid."""
    store = store_for(settings)
    inputs = inputs or gather_inputs(settings, cutoff=cutoff)
    parent = store.latest_before(iso(cutoff) or "")
    built = build_release(
        inputs,
        cutoff=cutoff,
        classes=settings.task.classes,
        rules=LabelRules.from_settings(settings),
        min_agreement=settings.release.min_agreement,
        parent=parent,
        uri_for=store.uri_of,
    )
    if skip_empty and built.manifest["item_count"] == 0:
        log.info("no valid labels up to %s: nothing to release", iso(cutoff))
        return None
    created = not store.exists(built.release_id)
    uri = store.write(built.release_id, built.files)
    if announce:
        publish_manifest(settings, built)
    log.info(
        "release %s %s at %s (%d items)",
        built.release_id,
        "built" if created else "already existed",
        uri,
        built.manifest["item_count"],
    )
    return BuildOutcome(release=built, uri=uri, created=created)


def publish_manifest(
    settings: AlstreamSettings, built: BuiltRelease, *, timeout_s: float | None = None
) -> None:
    """Announce on the releases topic and wait for the broker's acknowledgement."""
    codec = codec_for("releases", settings)
    producer = Producer(producer_config(settings))
    failures: list[str] = []

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failures.append(str(err))

    producer.produce(
        settings.kafka.topic("releases"),
        key=built.release_id,
        value=codec.encode(announcement(built.manifest)),
        on_delivery=delivered,
    )
    # through an outage as long as the producer itself retries (kafka.outage_tolerance_s)
    if producer.flush(settings.kafka.outage_tolerance_s if timeout_s is None else timeout_s) or failures:
        raise ReleaseError(
            f"release {built.release_id} stored but not announced: {failures or 'flush timed out'}"
        )


def training_arrays(store: ReleaseStore, release_id: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(item_ids, embeddings, labels) of a stored release's trainable items."""
    from alstream.agents.release.builder import ITEMS_FILE

    return arrays_from_items(store.read_bytes(release_id, ITEMS_FILE), name=release_id)


def arrays_from_items(data: bytes, *, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trainable rows of an items.parquet: a consolidated label (no open tie) and an embedding."""
    import io

    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(data), columns=["item_id", "label", "embedding"])
    rows = [
        (item, label, emb)
        for item, label, emb in zip(
            table.column("item_id").to_pylist(),
            table.column("label").to_pylist(),
            table.column("embedding").to_pylist(),
            strict=True,
        )
        if label is not None and emb is not None
    ]
    if not rows:
        return np.empty(0, dtype=str), np.empty((0, 0), dtype=np.float32), np.empty(0, dtype=str)
    dims = {len(r[2]) for r in rows}
    if len(dims) != 1:
        raise ReleaseError(f"release {name} mixes embedding dimensions {sorted(dims)}")
    return (
        np.asarray([r[0] for r in rows]),
        np.asarray([r[2] for r in rows], dtype=np.float32),
        np.asarray([r[1] for r in rows]),
    )
