"""One release build against the cluster: read, build, store, announce. Used by the agent and the CLI.

Idempotent: a release already stored under its id is not rewritten, and the announcement (keyed by
release id on a compacted topic) is always sent again, so a crash between storing and announcing is
healed by the next attempt.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from alstream.agents.release.builder import (
    BuiltRelease,
    ModelSnapshot,
    ReleaseInputs,
    announcement,
    build_from_ledger,
    build_release,
    iso,
)
from alstream.agents.release.exceptions import ReleaseError
from alstream.agents.release.ledger import LEDGER_FILE, Ledger, open_ledger
from alstream.agents.release.quality import read_gold
from alstream.agents.release.sources import latest_model_record
from alstream.agents.release.spool import PREFIXES
from alstream.agents.release.storage import ReleaseStore
from alstream.agents.trainer.online import from_metrics as online_from_metrics
from alstream.contracts.labels import LabelRules
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import codec_for
from alstream.streams.kafka_config import producer_config
from alstream.streams.reading import TopicTail

log = logging.getLogger(__name__)


def scratch_dir(settings: AlstreamSettings) -> str | None:
    """Where builds keep their scratch files: the state directory (temporary files elsewhere when it
    does not exist yet)."""
    return str(settings.paths.state_dir) if Path(settings.paths.state_dir).is_dir() else None


def store_for(settings: AlstreamSettings) -> ReleaseStore:
    root = settings.release.root_uri or str(Path(settings.paths.state_dir) / "releases")
    return ReleaseStore(root=root)


@dataclass(frozen=True)
class BuildOutcome:
    release: BuiltRelease
    uri: str
    created: bool


def model_snapshot(settings: AlstreamSettings, *, cutoff: datetime) -> ModelSnapshot | None:
    """The serving model's metric at the cut-off (the models topic is compacted: small)."""
    model = latest_model_record(settings, settings.release.model_name, not_after=cutoff)
    if model is None:
        return None
    return ModelSnapshot(
        model["model_version"],
        model["validation_metric_name"],
        float(model["validation_metric"]),
        online=online_from_metrics(model.get("metrics") or {}),
    )


def synced_ledger(
    settings: AlstreamSettings,
    *,
    full: bool = False,
    progress: Callable[[str, int], None] | None = None,
    stop: Callable[[], bool] | None = None,
    reader: Callable[..., TopicTail] = TopicTail,
    commit: bool = True,
) -> Ledger:
    """The release ledger with every record the topics hold now.

    ``full``: a fresh ledger in a temporary directory, filled from the topics' beginnings (what a
    rebuild from scratch reads); otherwise the agent's own ledger, which reads only what arrived since
    its last sync and (``commit``) commits its cursor as the release group for `alstream status`. The
    caller closes it (a ``full`` ledger's file goes with the directory)."""
    if full:
        Path(settings.paths.state_dir).mkdir(parents=True, exist_ok=True)
        scratch = tempfile.mkdtemp(prefix=PREFIXES[1], dir=settings.paths.state_dir)
        # it reads the labels before the candidates, so it keeps only the candidates a label needs
        ledger = open_ledger(settings, path=Path(scratch) / LEDGER_FILE, labeled_candidates_only=True)
        weakref.finalize(ledger, shutil.rmtree, scratch, True)
    else:
        ledger = open_ledger(settings)
    try:
        group = None if full or not commit else settings.kafka.group_id(settings.release.group_id)
        ledger.sync(settings, progress=progress, stop=stop, reader=reader, commit_group=group)
    except BaseException:
        ledger.close()
        raise
    return ledger


def build_and_announce(
    settings: AlstreamSettings,
    *,
    cutoff: datetime,
    inputs: ReleaseInputs | None = None,
    announce: bool = True,
    skip_empty: bool = False,
    full: bool = False,
    progress: Callable[[str, int], None] | None = None,
    reader: Callable[..., TopicTail] = TopicTail,
) -> BuildOutcome | None:
    """Build, store and announce the release at ``cutoff``; ``skip_empty`` returns None when no
    label is valid. The labels come from ``inputs`` if given, else from the release ledger, synced
    first (``full``: a fresh one read from the topics' beginnings)."""
    store = store_for(settings)
    parent = store.latest_before(iso(cutoff) or "")
    common: dict[str, Any] = {
        "cutoff": cutoff,
        "classes": settings.task.classes,
        "rules": LabelRules.from_settings(settings),
        "min_agreement": settings.release.min_agreement,
        "parent": parent,
        "uri_for": store.uri_of,
    }
    if inputs is not None:
        built = build_release(inputs, **common)
    else:
        ledger = synced_ledger(settings, full=full, progress=progress, reader=reader)
        try:
            built = build_from_ledger(
                ledger,
                **common,
                qa_gold=read_gold(str(settings.paths.qa_gold_file) if settings.paths.qa_gold_file else None),
                model=model_snapshot(settings, cutoff=cutoff),
                spool_dir=scratch_dir(settings),
                parent_store=store,
            )
        finally:
            ledger.close()
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
