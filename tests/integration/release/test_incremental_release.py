"""Releases from the release ledger: incremental and full builds agree byte for byte, and no label is
lost when its assignment and candidate have expired from their topics."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from confluent_kafka import Producer

from alstream.agents.release.builder import ITEMS_FILE, LABELS_FILE, BuiltRelease, build_from_ledger
from alstream.agents.release.ledger import open_ledger
from alstream.agents.release.service import build_and_announce, store_for, synced_ledger
from alstream.agents.trainer.data import labels_so_far_part
from alstream.contracts.labels import LabelRules
from alstream.contracts.times import to_ms
from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.codecs import codec_for
from alstream.streams.kafka_config import producer_config
from alstream.streams.reading import TopicTail
from tests.support.records import assignment, candidate, label
from tests.support.retention import expiring_reader

pytestmark = pytest.mark.broker

CLASSES = ["cat", "dog", "fox"]
NOW = datetime.now(UTC).replace(microsecond=0)


class Topics:
    """Produces decoded records with explicit record timestamps (when they were written)."""

    def __init__(self, settings: AlstreamSettings) -> None:
        self.settings = settings
        self.producer = Producer(producer_config(settings))
        self.codecs = {name: codec_for(name, settings) for name in ("assignments", "labels", "candidates")}

    def send(self, topic: str, record: dict[str, Any], *, at: datetime, key: str) -> None:
        self.producer.produce(
            self.settings.kafka.topic(topic),
            key=key,
            value=self.codecs[topic].encode(record),
            timestamp=to_ms(at),
        )

    def labeled_item(
        self, n: int, *, at: datetime, annotators: tuple[str, ...] = ("ann1",), value: str | None = None
    ) -> list[dict[str, Any]]:
        item = f"item-{n:04d}"
        emb = np.random.default_rng(n).normal(size=64).astype("<f4").tobytes()
        self.send("candidates", candidate(item, selected_at=at, embedding=emb), at=at, key=item)
        labels = []
        for k, annotator in enumerate(annotators):
            a = assignment(
                f"a-{n}-{annotator}",
                annotator_id=annotator,
                item_id=item,
                kind="HARD" if k == 0 else "OVERLAP",
                assigned_at=at + timedelta(seconds=k),
            )
            self.send("assignments", a, at=a["assigned_at"], key=annotator)
            lab = label(f"l-{n}-{annotator}", of=a, value=value or CLASSES[n % 3])
            self.send("labels", lab, at=lab["submitted_at"], key=item)
            labels.append(lab)
        return labels

    def flush(self) -> None:
        assert self.producer.flush(30) == 0


@pytest.fixture
def release_settings(
    topics: AlstreamSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AlstreamSettings:
    monkeypatch.setenv("ALSTREAM_PATHS__STATE_DIR", str(tmp_path))
    monkeypatch.setenv("ALSTREAM_TASK__CLASSES", '["cat", "dog", "fox"]')
    return load_settings()


def full_build(
    settings: AlstreamSettings, *, cutoff: datetime, reader: Callable[..., TopicTail] = TopicTail
) -> BuiltRelease:
    """A rebuild from scratch (a fresh ledger read from the topics' beginnings), not stored."""
    store = store_for(settings)
    ledger = synced_ledger(settings, full=True, reader=reader)
    try:
        return build_from_ledger(
            ledger,
            cutoff=cutoff,
            classes=settings.task.classes,
            rules=LabelRules.from_settings(settings),
            min_agreement=settings.release.min_agreement,
            parent=store.latest_before(cutoff.strftime("%Y-%m-%dT%H:%M:%S.000Z")),
            uri_for=store.uri_of,
        )
    finally:
        ledger.close()


def label_ids(built: BuiltRelease) -> set[str]:
    import io

    return set(pq.read_table(io.BytesIO(built.files[LABELS_FILE])).column("label_id").to_pylist())


def test_incremental_and_full_builds_agree_byte_for_byte(release_settings: AlstreamSettings) -> None:
    settings = release_settings
    t1, c1 = NOW - timedelta(days=9), NOW - timedelta(days=7)
    t2, c2 = NOW - timedelta(days=5), NOW - timedelta(days=1)
    topics = Topics(settings)
    for n in range(30):
        topics.labeled_item(
            n, at=t1 + timedelta(minutes=n), annotators=("ann1", "ann2") if n % 4 == 0 else ("ann1",)
        )
    topics.flush()
    first = build_and_announce(settings, cutoff=c1, announce=False)
    assert first is not None and first.release.manifest["item_count"] == 30

    # The week after: new items, and everything at-least-once delivery and late clients produce.
    week = [topics.labeled_item(n, at=t2 + timedelta(minutes=n)) for n in range(30, 45)]
    late_a = assignment(
        "a-late",
        annotator_id="ann3",
        item_id="item-0001",
        kind="OVERLAP",
        assigned_at=c1 - timedelta(hours=2),
    )
    topics.send("assignments", late_a, at=c1 - timedelta(hours=2), key="ann3")
    late = label("l-late", of=late_a, value="dog")  # submitted before c1, arrives after release 1
    topics.send("labels", late, at=NOW, key="item-0001")
    topics.send("labels", week[0][0], at=NOW, key=week[0][0]["item_id"])  # a redelivered duplicate
    again = assignment(
        "a-31-again", annotator_id="ann1", item_id="item-0031", assigned_at=t2 + timedelta(hours=3)
    )
    topics.send("assignments", again, at=t2 + timedelta(hours=3), key="ann1")
    topics.send("labels", label("l-31-again", of=again, value="fox"), at=t2, key="item-0031")  # supersedes
    ghost = assignment("a-ghost", annotator_id="ann1", item_id="item-0040")
    topics.send("labels", label("l-ghost", of=ghost), at=t2, key="item-0040")  # its assignment never came
    skipped = assignment("a-skip", annotator_id="ann2", item_id="item-0033", assigned_at=t2)
    topics.send("assignments", skipped, at=t2, key="ann2")
    topics.send("labels", label("l-skip", of=skipped, status="SKIPPED"), at=t2, key="item-0033")
    moved = np.ones(64, dtype="<f4").tobytes()  # re-selected before c2: the newer embedding counts
    topics.send("candidates", candidate("item-0002", selected_at=t2, embedding=moved), at=t2, key="item-0002")
    after = np.zeros(64, dtype="<f4").tobytes()  # selected after c2: no release at c2 may see it
    topics.send(
        "candidates", candidate("item-0003", selected_at=NOW, embedding=after), at=NOW, key="item-0003"
    )
    topics.flush()

    second = build_and_announce(settings, cutoff=c2, announce=False)
    assert second is not None
    manifest = second.release.manifest
    assert manifest["parent_release_id"] == first.release.release_id
    assert manifest["item_count"] == 45
    assert manifest["excluded_labels"] == {
        "UnknownAssignment": 1,
        "duplicate": 1,
        "status_skipped": 1,
        "superseded": 1,
    }
    assert "l-late" in label_ids(second.release) and "l-31-again" in label_ids(second.release)
    assert (
        manifest["added_label_count"] == 15
    )  # the week's 15 answers (one superseded by another) + the late one
    # built from release 1: the week's 15 items, item-0001 (its late label), item-0002 and item-0003
    # (new candidates) recomputed, the other 27 items copied from release 1's files
    assert second.release.started_from == first.release.release_id
    assert second.release.recomputed_items == 18
    rebuilt = full_build(settings, cutoff=c2)
    assert rebuilt.started_from is None and rebuilt.recomputed_items == 45
    assert rebuilt.release_id == second.release.release_id
    assert dict(rebuilt.files) == dict(second.release.files)  # every file, byte for byte

    ledger = open_ledger(settings)
    try:
        assert ledger.counts()["labels"] == 38 + 15 + 5  # every label record, the duplicate included
    finally:
        ledger.close()


def test_no_label_lost_when_assignments_and_candidates_expired(release_settings: AlstreamSettings) -> None:
    """100 days on, the old labels' assignments (90 days) and candidates (30 days) are gone from the
    topics; the next release still holds every old label, with its context and embedding."""
    settings = release_settings
    old, old_cut = NOW - timedelta(days=100), NOW - timedelta(days=99)
    prefix = settings.kafka.topic_prefix
    topics = Topics(settings)
    for n in range(20):
        topics.labeled_item(
            n, at=old + timedelta(minutes=n), annotators=("ann1", "ann2") if n % 5 == 0 else ("ann1",)
        )
    topics.flush()
    back_then = expiring_reader(prefix=prefix, now=old_cut)
    first = build_and_announce(settings, cutoff=old_cut, announce=False, reader=back_then)
    assert first is not None and first.release.manifest["trainable_item_count"] == 20

    recent = NOW - timedelta(hours=5)
    for n in range(20, 30):
        topics.labeled_item(n, at=recent + timedelta(minutes=n))
    topics.flush()
    today = expiring_reader(prefix=prefix, now=NOW)
    second = build_and_announce(settings, cutoff=NOW, announce=False, reader=today)
    assert second is not None and second.release.started_from == first.release.release_id
    manifest = second.release.manifest
    assert manifest["item_count"] == 30 and manifest["trainable_item_count"] == 30
    assert manifest["excluded_labels"] == {}
    assert label_ids(first.release) <= label_ids(second.release)
    assert pq.read_table(second.uri + "/" + ITEMS_FILE).column("embedding").null_count == 0

    # The trainer's label batches read the same ledger: every old label, with its embedding.
    _name, ids, embeddings, _labels = labels_so_far_part(settings, now=NOW)
    assert len(ids) == 30 and embeddings.shape == (30, 64)

    # What the ledger prevents: the same topics read from scratch today have lost the old context.
    rebuilt = full_build(settings, cutoff=NOW, reader=today)
    assert today.hidden > 0  # type: ignore[attr-defined]
    assert rebuilt.manifest["excluded_labels"] == {"UnknownAssignment": 24}
    assert rebuilt.manifest["item_count"] == 10
