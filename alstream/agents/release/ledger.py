"""The release ledger: what every label needs, captured before the topics it comes from expire.

A label counts in a release only with its assignment (kind, annotator, lease, classes, policy and
model versions) and is trainable only with its item's embedding (from the candidates topic). The
labels topic is kept forever, assignments for 90 days and candidates for 30 (the topic catalogue), so
whatever reads those two topics must have read them before they expire. The ledger is that reader: a
SQLite database the release agent owns (``<state_dir>/release-ledger.sqlite3``) that copies, at every
tick, the label, assignment and candidate records that arrived since its cursor. Builds (weekly,
on demand, the trainer's retrain-every-N) read the ledger, never the topics, so

* no label drops out of a release when its assignment or candidate ages out of its topic;
* a build reads only what arrived since the previous sync (the week's records), not all history;
* memory stays bounded: the ledger is on disk and builds stream from it in item order;
* a build knows what changed since a release: every label stored, re-decided or flagged as a
  duplicate gets the next change number, candidates are numbered by row, and the ``builds`` table
  records how far each release's build had seen (see :mod:`alstream.agents.release.builder`).

Why a store the release agent owns rather than a new "accepted labels" topic: the embedding lives only
on the candidates topic, which the labels agent does not read (following it would cost the labels agent
memory per pooled candidate); a topic would also need a schema, ACLs and a second dedupe. Why SQLite:
one file, in the standard library, transactional. Records and the cursor that says how far they were
read are written in one transaction, so a process killed with SIGKILL restarts from the last committed
cursor and re-reads at most one uncommitted batch; rows are keyed by (partition, offset), so re-reading
inserts nothing twice (at-least-once in, exactly-once state). Nothing is deleted from the ledger: it
lives as long as the labels it serves.

If records expired before the ledger read them (the release agent was down longer than a topic's
retention), the gap is counted (``alstream_release_ledger_missed_records_total{topic}``) and logged;
``alstream status`` warns before that happens (the ledger's unread records older than their topic's
retention allows).
"""

from __future__ import annotations

import functools
import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from alstream.agents.release.exceptions import ReleaseError
from alstream.agents.release.metrics import LEDGER_MISSED, LEDGER_RECORDS
from alstream.contracts.assignments import assignment_violation
from alstream.contracts.ids import DEFAULT_MAX_ID_LENGTH
from alstream.contracts.labels import LabelRules
from alstream.contracts.times import to_ms
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import RecordCodec, codec_for
from alstream.streams.exceptions import BrokerError, ClusterUnreachable
from alstream.streams.kafka_config import consumer_config
from alstream.streams.messages import coordinates
from alstream.streams.reading import TopicTail
from alstream.streams.topics import list_topics

log = logging.getLogger(__name__)

LEDGER_FILE = "release-ledger.sqlite3"
BATCH = 50_000  # labels decided per transaction: what a build holds of them at a time
LEDGER_TOPICS = ("labels", "assignments", "candidates")  # in this order: see labeled_candidates_only
# A candidate's state in the ledger: most candidates are never labeled, so they are stored as the broker
# had them and decoded only when a build first needs the embedding of their item.
UNDECODED, DECODED, UNUSABLE = 0, 1, 2
RAW, KEY = "__raw__", "__key__"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

TABLES = """
CREATE TABLE IF NOT EXISTS cursor (
    topic TEXT NOT NULL, part INTEGER NOT NULL, next_offset INTEGER NOT NULL,
    read_at_ms INTEGER NOT NULL, PRIMARY KEY (topic, part));
CREATE TABLE IF NOT EXISTS labels (
    part INTEGER NOT NULL, off INTEGER NOT NULL, label_id TEXT NOT NULL, assignment_id TEXT NOT NULL,
    item_id TEXT NOT NULL, annotator_id TEXT NOT NULL, status TEXT NOT NULL, value TEXT,
    root_cause TEXT, started_ms INTEGER NOT NULL, submitted_ms INTEGER NOT NULL,
    decision TEXT, kind TEXT, policy_version TEXT, model_version TEXT, assigned_ms INTEGER,
    dup INTEGER NOT NULL DEFAULT 0, changed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (part, off));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS assignments (
    part INTEGER NOT NULL, off INTEGER NOT NULL, assignment_id TEXT NOT NULL, annotator_id TEXT NOT NULL,
    item_id TEXT NOT NULL, kind TEXT NOT NULL, classes TEXT NOT NULL, overlap_group TEXT,
    assigned_ms INTEGER NOT NULL, lease_expires_ms INTEGER NOT NULL, model_version TEXT NOT NULL,
    policy_version TEXT NOT NULL, PRIMARY KEY (part, off));
CREATE TABLE IF NOT EXISTS candidates (
    part INTEGER NOT NULL, off INTEGER NOT NULL, item_id TEXT NOT NULL, selected_ms INTEGER,
    embedding BLOB, raw BLOB, state INTEGER NOT NULL, PRIMARY KEY (part, off));
CREATE TABLE IF NOT EXISTS builds (
    release_id TEXT PRIMARY KEY, cutoff_ms INTEGER NOT NULL, seq INTEGER NOT NULL,
    candidates_seen INTEGER NOT NULL, fingerprint TEXT NOT NULL);
"""
INDEXES = """
CREATE INDEX IF NOT EXISTS labels_by_time ON labels (submitted_ms, label_id, part, off);
CREATE INDEX IF NOT EXISTS labels_by_assignment ON labels (assignment_id);
CREATE INDEX IF NOT EXISTS labels_undecided ON labels (decision) WHERE decision IS NULL;
CREATE INDEX IF NOT EXISTS labels_by_id ON labels (label_id);
CREATE INDEX IF NOT EXISTS labels_by_item ON labels (item_id);
CREATE INDEX IF NOT EXISTS labels_by_change ON labels (changed);
CREATE INDEX IF NOT EXISTS assignments_by_id ON assignments (assignment_id, part, off);
CREATE INDEX IF NOT EXISTS candidates_by_item ON candidates (item_id, part, off);
CREATE INDEX IF NOT EXISTS candidates_by_selection ON candidates (selected_ms) WHERE selected_ms IS NOT NULL;
"""


def rules_fingerprint(rules: LabelRules) -> str:
    """The label contract's settings as text: verdicts reached under other settings are reached again."""
    return json.dumps(
        [sorted(rules.task_classes), sorted(rules.root_causes), rules.max_id_length, rules.skew_ms]
    )


def from_ms(ms: int) -> datetime:
    """The exact datetime of an epoch-millisecond time (no float rounding)."""
    return EPOCH + timedelta(milliseconds=ms)


@dataclass(frozen=True)
class BuildState:
    """How far the ledger went when a build read it: its change number and its last candidate row."""

    seq: int
    candidates_seen: int


@dataclass(frozen=True)
class BuildRecord:
    """What a stored release was built from (the ledger's ``builds`` table)."""

    cutoff_ms: int
    state: BuildState
    fingerprint: str


@dataclass
class SyncReport:
    """What one sync copied, per topic."""

    records: dict[str, int] = field(default_factory=dict)
    undecodable: dict[str, int] = field(default_factory=dict)
    missed: dict[str, int] = field(default_factory=dict)


class Ledger:
    """One SQLite file (or ``":memory:"``); keyword-only, one writer at a time (SQLite's lock)."""

    def __init__(
        self,
        *,
        path: str | Path,
        max_id_length: int = DEFAULT_MAX_ID_LENGTH,
        candidate_codec: RecordCodec | None = None,
        labeled_candidates_only: bool = False,
    ) -> None:
        """``labeled_candidates_only``: keep only candidates of items some stored label names (a ledger
        filled from the topics' beginnings for one build, which reads the labels first); the agent's own
        ledger keeps every candidate, because a candidate arrives before the labels of its item."""
        self.path = str(path)
        self.max_id_length = max_id_length
        self.candidate_codec = candidate_codec
        self.labeled_candidates_only = labeled_candidates_only
        self._labeled_items: set[str] | None = None
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA cache_size=-65536")  # 64 MiB of pages at most: builds spill to disk
        self.db.execute("PRAGMA temp_store=FILE")
        self.db.executescript(TABLES)
        self._migrate()
        self.db.executescript(INDEXES)

    def _migrate(self) -> None:
        """A ledger written before labels carried their duplicate flag and change sequence gets both;
        it has no build records, so its next build recomputes every item."""
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(labels)")}
        if "dup" in columns:
            return
        with self._transaction():
            self.db.execute("ALTER TABLE labels ADD COLUMN dup INTEGER NOT NULL DEFAULT 0")
            self.db.execute("ALTER TABLE labels ADD COLUMN changed INTEGER NOT NULL DEFAULT 0")
            self.db.execute(
                "UPDATE labels SET dup = 1 WHERE rowid IN (SELECT rowid FROM (SELECT rowid, ROW_NUMBER() "
                "OVER (PARTITION BY label_id ORDER BY submitted_ms, part, off) AS n FROM labels) WHERE n > 1)"
            )

    def close(self) -> None:
        self.db.close()

    # -- what has been read ------------------------------------------------------------------------

    def cursor(self, topic_key: str) -> dict[int, int]:
        """partition -> the next offset to read of ``topic_key``."""
        rows = self.db.execute("SELECT part, next_offset FROM cursor WHERE topic = ?", (topic_key,))
        return dict(rows.fetchall())

    def cursors(self) -> dict[str, dict[int, tuple[int, int]]]:
        """topic -> partition -> (next offset, when it was read, epoch ms)."""
        out: dict[str, dict[int, tuple[int, int]]] = {}
        for topic, part, offset, read_at in self.db.execute("SELECT * FROM cursor"):
            out.setdefault(topic, {})[part] = (offset, read_at)
        return out

    def counts(self) -> dict[str, int]:
        return {
            table: self.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in LEDGER_TOPICS
        }

    # -- writing -----------------------------------------------------------------------------------

    def add(
        self,
        topic_key: str,
        rows: Iterable[tuple[int, int, Mapping[str, Any]]],
        *,
        ends: Mapping[int, int] | None = None,
        read_at_ms: int = 0,
    ) -> int:
        """Store decoded records ``(partition, offset, record)`` of ``topic_key`` and move its cursor to
        ``ends`` (partition -> next offset), all in one transaction. Returns the rows stored."""
        insert, to_row = _WRITERS[topic_key]
        values = []
        keep = self._candidate_filter() if topic_key == "candidates" else None
        for part, offset, record in rows:
            row = to_row(record, self.max_id_length)
            if row is not None and (keep is None or row[0] in keep):
                values.append((part, offset, *row))
        with self._transaction():
            seq = self._next_seq() if topic_key == "labels" else 0
            before = self.db.total_changes
            if topic_key == "labels":
                self.db.executemany(insert, [(*row, seq) for row in values])
            else:
                self.db.executemany(insert, values)
            stored = self.db.total_changes - before
            if topic_key == "labels" and stored:
                self._mark_duplicates([row[2] for row in values], seq)
            if topic_key == "assignments" and stored:
                # a label decided against an earlier record of this assignment is decided again
                seq = self._next_seq()
                self.db.executemany(
                    "UPDATE labels SET decision = NULL, changed = ? "
                    "WHERE assignment_id = ? AND decision IS NOT NULL",
                    [(seq, row[2]) for row in values],
                )
            for part, offset in (ends or {}).items():
                self.db.execute(
                    "INSERT INTO cursor VALUES (?, ?, ?, ?) ON CONFLICT (topic, part) DO UPDATE SET "
                    "next_offset = max(next_offset, excluded.next_offset), read_at_ms = excluded.read_at_ms",
                    (topic_key, part, offset, read_at_ms),
                )
        if topic_key == "labels" and self._labeled_items is not None:
            self._labeled_items.update(row[4] for row in values)
        return stored

    def _candidate_filter(self) -> set[str] | None:
        if not self.labeled_candidates_only:
            return None
        if self._labeled_items is None:
            self._labeled_items = {row[0] for row in self.db.execute("SELECT DISTINCT item_id FROM labels")}
        return self._labeled_items

    def _next_seq(self) -> int:
        """The next change number (in the caller's transaction): every label stored, re-decided or
        re-flagged gets one, and a build records the last it saw, so the next build knows what changed."""
        row = self.db.execute(
            "INSERT INTO meta VALUES ('seq', '1') ON CONFLICT (key) DO UPDATE SET "
            "value = CAST(value AS INTEGER) + 1 RETURNING CAST(value AS INTEGER)"
        ).fetchone()
        return int(row[0])

    def seq(self) -> int:
        row = self.db.execute("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'seq'").fetchone()
        return int(row[0]) if row else 0

    def _mark_duplicates(self, label_ids: list[str], seq: int) -> None:
        """Flag every record of these label ids but the first (submission time, then topic order) as a
        duplicate: at-least-once delivery repeats a label, and only its first record counts. The first
        record is the same whatever the cut-off (a later cut-off only adds later records), so the flag
        is stored; a record whose flag flips (a late copy that was submitted earlier) changes its item."""
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS arrived (label_id TEXT PRIMARY KEY)")
        self.db.execute("DELETE FROM temp.arrived")
        self.db.executemany("INSERT OR IGNORE INTO temp.arrived VALUES (?)", ((i,) for i in label_ids))
        self.db.execute(
            "UPDATE labels SET dup = ranked.later, changed = ? FROM (SELECT rowid AS rid, "
            "ROW_NUMBER() OVER (PARTITION BY label_id ORDER BY submitted_ms, part, off) > 1 AS later "
            "FROM labels WHERE label_id IN (SELECT a.label_id FROM temp.arrived AS a WHERE "
            "(SELECT count(*) FROM labels AS l WHERE l.label_id = a.label_id) > 1)) AS ranked "
            "WHERE labels.rowid = ranked.rid AND labels.dup != ranked.later",
            (seq,),
        )

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)

    # -- reading for a build -----------------------------------------------------------------------

    def decide(self, rules: LabelRules) -> int:
        """Give every undecided label the label contract's verdict against its assignment, and keep the
        assignment's context with it (kind, versions, when it was assigned). Returns how many were decided.

        A verdict is kept until a newer record of its assignment arrives (then it is decided again) or
        the rules change (``rules`` differ from those the stored verdicts were reached with: all are
        decided again). A label whose assignment is not in the ledger stays undecided (a build counts it
        ``UnknownAssignment``) and is decided once the assignment arrives. So a build decides only the
        labels that arrived since the last one."""
        fingerprint = rules_fingerprint(rules)
        stored = self.db.execute("SELECT value FROM meta WHERE key = 'rules'").fetchone()
        if stored is None or stored[0] != fingerprint:
            with self._transaction():
                self.db.execute(
                    "UPDATE labels SET decision = NULL, changed = ? WHERE decision IS NOT NULL",
                    (self._next_seq(),),
                )
                self.db.execute("INSERT OR REPLACE INTO meta VALUES ('rules', ?)", (fingerprint,))
        decided, after = 0, -1
        while chunk := self._joined(
            "WHERE l.decision IS NULL AND l.rowid > ? ORDER BY l.rowid LIMIT ?", (after, BATCH)
        ):
            after = chunk[-1][0]
            updates: list[tuple[Any, ...]] = []
            for rowid, label, assignment in chunk:
                violation = rules.verdict(label, assignment)
                if assignment is None and (violation is None or violation.reason == "UnknownAssignment"):
                    continue  # decided when its assignment arrives
                if violation is not None or assignment is None:
                    updates.append((violation.reason if violation else "", None, None, None, None, rowid))
                    continue
                updates.append(
                    (
                        "",
                        assignment["kind"],
                        assignment["policy_version"],
                        assignment["model_version"],
                        assignment["assigned_ms"],
                        rowid,
                    )
                )
            with self._transaction():
                seq = self._next_seq()
                self.db.executemany(
                    "UPDATE labels SET decision = ?, kind = ?, policy_version = ?, model_version = ?, "
                    f"assigned_ms = ?, changed = {seq} WHERE rowid = ?",
                    updates,
                )
            decided += len(updates)
        return decided

    def _joined(
        self, where: str, params: tuple[Any, ...]
    ) -> list[tuple[int, dict[str, Any], dict[str, Any] | None]]:
        query = f"""
            SELECT l.rowid, l.label_id, l.assignment_id, l.item_id, l.annotator_id, l.status, l.value,
                   l.root_cause, l.started_ms, l.submitted_ms,
                   a.assignment_id, a.annotator_id, a.item_id, a.kind, a.classes, a.overlap_group,
                   a.assigned_ms, a.lease_expires_ms, a.model_version, a.policy_version
            FROM labels AS l
            LEFT JOIN assignments AS a ON a.rowid = (
                SELECT rowid FROM assignments WHERE assignment_id = l.assignment_id
                ORDER BY part DESC, off DESC LIMIT 1)
            {where}
        """
        out = []
        for row in _fetch(self.db.execute(query, params)):
            out.append((row[0], *_label_and_assignment(row[1:])))
        return out

    def decode_candidates(self, items_table: str) -> int:
        """Decode, once, the stored candidates of the items in ``items_table`` (a table with an
        ``item_id`` primary key); returns how many. A record that does not decode, or whose item is not
        its key (the scorer keys candidates by item id), is marked unusable."""
        if (
            self.candidate_codec is None
            and self.db.execute(
                f"SELECT 1 FROM {items_table} AS t JOIN candidates AS c ON c.item_id = t.item_id "
                "WHERE c.state = ? LIMIT 1",
                (UNDECODED,),
            ).fetchone()
        ):
            raise ReleaseError("this ledger holds undecoded candidates but was opened without their codec")
        decoded, after = 0, ""
        while True:
            page = self.db.execute(
                f"SELECT item_id FROM {items_table} WHERE item_id > ? ORDER BY item_id LIMIT ?",
                (after, BATCH // 10),
            ).fetchall()
            if not page:
                return decoded
            pending = self.db.execute(
                f"SELECT c.rowid, c.item_id, c.raw FROM {items_table} AS t JOIN candidates AS c "
                "ON c.item_id = t.item_id WHERE t.item_id > ? AND t.item_id <= ? AND c.state = ?",
                (after, page[-1][0], UNDECODED),
            ).fetchall()
            after = page[-1][0]
            if pending:
                with self._transaction():
                    self.db.executemany(
                        "UPDATE candidates SET selected_ms = ?, embedding = ?, raw = NULL, state = ? "
                        "WHERE rowid = ?",
                        [self._decoded(rowid, item_id, raw) for rowid, item_id, raw in pending],
                    )
                decoded += len(pending)

    def _decoded(self, rowid: int, item_id: str, raw: bytes) -> tuple[Any, ...]:
        assert self.candidate_codec is not None
        try:
            record = self.candidate_codec.decode(raw)
            if record["item_id"] == item_id:
                return (to_ms(record["selected_at"]), record.get("embedding"), DECODED, rowid)
        except Exception:  # noqa: BLE001 - the scorer's to fix; the ledger skips it
            pass
        return (None, None, UNUSABLE, rowid)

    def embeddings(self, items_table: str, cutoff_ms: int) -> Iterator[tuple[str, bytes | None]]:
        """(item, embedding) for every item of ``items_table`` in item order: the embedding of the
        item's latest candidate (topic order) selected at or before the cut-off, None if it has none.
        Call :meth:`decode_candidates` first."""
        rows = self.db.execute(
            f"SELECT t.item_id, (SELECT c.embedding FROM candidates AS c WHERE c.item_id = t.item_id "
            "AND c.state = ? AND c.selected_ms <= ? ORDER BY c.part DESC, c.off DESC LIMIT 1) "
            f"FROM {items_table} AS t ORDER BY t.item_id",
            (DECODED, cutoff_ms),
        )
        yield from _fetch(rows)

    def embedding(self, item_id: str, cutoff_ms: int) -> bytes | None:
        """One item's embedding at the cut-off (see :meth:`embeddings`)."""
        table = self.temp_items([item_id])
        try:
            self.decode_candidates(table)
            return next(self.embeddings(table, cutoff_ms))[1]
        finally:
            self.db.execute(f"DROP TABLE IF EXISTS {table}")

    def temp_items(self, items: Iterable[str] = ()) -> str:
        """A new temporary table of item ids (dropped by the caller); returns its name."""
        table = f"temp.items_{uuid.uuid4().hex}"
        self.db.execute(f"CREATE TABLE {table} (item_id TEXT PRIMARY KEY) WITHOUT ROWID")
        self.db.executemany(f"INSERT OR IGNORE INTO {table} VALUES (?)", ((item,) for item in items))
        return table

    # -- what each build saw -----------------------------------------------------------------------

    def state(self) -> BuildState:
        """How far the ledger's records go now: the last change number and the last candidate row."""
        (candidates,) = self.db.execute("SELECT coalesce(max(rowid), 0) FROM candidates").fetchone()
        return BuildState(seq=self.seq(), candidates_seen=int(candidates))

    def record_build(self, release_id: str, *, cutoff_ms: int, state: BuildState, fingerprint: str) -> None:
        """Remember what a release was built from, so a release cut later can start from it."""
        with self._transaction():
            self.db.execute(
                "INSERT OR REPLACE INTO builds VALUES (?, ?, ?, ?, ?)",
                (release_id, cutoff_ms, state.seq, state.candidates_seen, fingerprint),
            )

    def build_record(self, release_id: str) -> BuildRecord | None:
        row = self.db.execute(
            "SELECT cutoff_ms, seq, candidates_seen, fingerprint FROM builds WHERE release_id = ?",
            (release_id,),
        ).fetchone()
        if row is None:
            return None
        return BuildRecord(
            cutoff_ms=row[0], state=BuildState(seq=row[1], candidates_seen=row[2]), fingerprint=row[3]
        )

    def add_changed_items(self, items_table: str, *, since: BuildRecord, cutoff_ms: int) -> None:
        """Add to ``items_table`` every item whose release rows may differ between a build recorded as
        ``since`` and one at ``cutoff_ms`` now: items of labels stored, re-decided or re-flagged after
        it, of labels submitted between the two cut-offs, and labeled items with a candidate stored
        after it or selected between the two cut-offs (their embedding may be another)."""
        self.db.execute(
            f"INSERT OR IGNORE INTO {items_table} "
            "SELECT item_id FROM labels WHERE changed > :seq "
            "UNION SELECT item_id FROM labels WHERE submitted_ms > :c0 AND submitted_ms <= :c1 "
            "UNION SELECT c.item_id FROM candidates AS c WHERE (c.rowid > :seen "
            "OR (c.selected_ms > :c0 AND c.selected_ms <= :c1)) "
            "AND EXISTS (SELECT 1 FROM labels AS l WHERE l.item_id = c.item_id)",
            {
                "seq": since.state.seq,
                "c0": since.cutoff_ms,
                "c1": cutoff_ms,
                "seen": since.state.candidates_seen,
            },
        )

    # -- filling from the topics -------------------------------------------------------------------

    def sync(
        self,
        settings: AlstreamSettings,
        *,
        topics: Iterable[str] = LEDGER_TOPICS,
        patience_s: float | None = None,
        stop: Callable[[], bool] | None = None,
        agent: str = "release",
        progress: Callable[[str, int], None] | None = None,
        reader: Callable[..., TopicTail] = TopicTail,
        commit_group: str | None = None,
    ) -> SyncReport:
        """Copy every record that arrived since the cursor, up to each partition's end now.

        ``reader`` builds the topic reader (a :class:`TopicTail`; tests pass one that hides records
        older than their topic's retention, which the embedded broker does not enforce).
        ``commit_group``: also commit the cursor as that consumer group's offsets, so ``alstream status``
        shows how far the ledger has read and warns before an unread record expires (the ledger's own
        cursor stays the truth; a failed commit is logged, never fatal)."""
        report = SyncReport()
        wanted = [topic_key for topic_key in LEDGER_TOPICS if topic_key in set(topics)]
        # One reader for the topics (one consumer, one end-of-topic wait), except that a ledger for one
        # build stores only candidates a stored label names, so it reads the labels before them.
        passes = [wanted]
        if self.labeled_candidates_only and "candidates" in wanted:
            passes = [[t for t in wanted if t != "candidates"], ["candidates"]]
        for topic_keys in passes:
            if topic_keys:
                self._sync_topics(
                    settings,
                    topic_keys,
                    report,
                    patience_s=settings.kafka.outage_tolerance_s if patience_s is None else patience_s,
                    stop=stop,
                    agent=agent,
                    progress=progress,
                    reader=reader,
                )
        if commit_group is not None:
            self._commit(settings, wanted, commit_group)
        return report

    def _commit(self, settings: AlstreamSettings, topic_keys: list[str], group: str) -> None:
        offsets = [
            TopicPartition(settings.kafka.topic(topic_key), part, offset)
            for topic_key in topic_keys
            for part, offset in sorted(self.cursor(topic_key).items())
        ]
        if not offsets:
            return
        consumer = Consumer(consumer_config(settings, group_id=group) | {"enable.auto.commit": False})
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning("release ledger: could not commit its cursor as group %s: %s", group, exc)
        finally:
            consumer.close()

    def _sync_topics(
        self,
        settings: AlstreamSettings,
        topic_keys: list[str],
        report: SyncReport,
        *,
        patience_s: float,
        stop: Callable[[], bool] | None,
        agent: str,
        progress: Callable[[str, int], None] | None,
        reader: Callable[..., TopicTail],
    ) -> None:
        keys = {settings.kafka.topic(topic_key): topic_key for topic_key in topic_keys}
        try:
            listed = dict(list_topics(settings))
            start: dict[tuple[str, int], int] = {}
            writers: dict[str, _BatchWriter] = {}
            for topic, topic_key in keys.items():
                if topic not in listed:
                    raise ReleaseError(
                        f"topic {topic} does not exist: create the catalogue (`alstream topics create`)"
                    )
                cursor = self.cursor(topic_key)
                start.update({(topic, p): cursor.get(p, OFFSET_BEGINNING) for p in range(listed[topic])})
                codec = codec_for(topic_key, settings)
                writers[topic] = _BatchWriter(self, topic_key, codec, cursor, report, progress)

            def handle(messages: list[Message]) -> None:
                by_topic: dict[str, list[Message]] = {}
                for message in messages:
                    by_topic.setdefault(message.topic() or "", []).append(message)
                for topic, batch in by_topic.items():
                    writers[topic](batch)

            tail = reader(settings=settings, start=start, agent=agent, patience_s=patience_s, stop=stop)
            try:
                tail.catch_up(handle)
            finally:
                tail.close()
        except (BrokerError, ClusterUnreachable) as exc:
            raise ReleaseError(f"reading {', '.join(keys)} into the release ledger: {exc}") from exc
        for topic, topic_key in keys.items():
            LEDGER_RECORDS.labels(topic_key).inc(report.records.get(topic_key, 0))
            if report.undecodable.get(topic_key):
                log.warning(
                    "%s: skipped %d undecodable records (see dead letters)",
                    topic,
                    report.undecodable[topic_key],
                )


@functools.lru_cache(maxsize=1024)
def _classes(text: str) -> list[str]:
    """An assignment's classes (a few distinct lists shared by many assignments; read-only)."""
    return cast(list[str], json.loads(text))


def _label_and_assignment(row: tuple[Any, ...]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    label = {
        "label_id": row[0],
        "assignment_id": row[1],
        "item_id": row[2],
        "annotator_id": row[3],
        "status": row[4],
        "value": row[5],
        "root_cause": row[6],
        "started_at": from_ms(row[7]),
        "submitted_at": from_ms(row[8]),
    }
    if row[9] is None:
        return label, None
    return label, {
        "assignment_id": row[9],
        "annotator_id": row[10],
        "item_id": row[11],
        "kind": row[12],
        "classes": _classes(row[13]),
        "overlap_group": row[14],
        "assigned_at": from_ms(row[15]),
        "lease_expires_at": from_ms(row[16]),
        "model_version": row[17],
        "policy_version": row[18],
        "assigned_ms": row[15],
    }


class _BatchWriter:
    """Decodes one fetched batch and stores it with the cursor moved past it, in one transaction."""

    def __init__(
        self,
        ledger: Ledger,
        topic_key: str,
        codec: RecordCodec,
        cursor: dict[int, int],
        report: SyncReport,
        progress: Callable[[str, int], None] | None,
    ) -> None:
        self.ledger, self.topic_key, self.codec = ledger, topic_key, codec
        self.expected = dict(cursor)  # partition -> the offset the next record should have
        self.report, self.progress = report, progress

    def __call__(self, messages: list[Message]) -> None:
        rows: list[tuple[int, int, Mapping[str, Any]]] = []
        ends: dict[int, int] = {}
        for message in messages:
            _, part, offset = coordinates(message)
            expected = self.expected.get(part, 0)
            if offset > expected:  # deleted by retention (or DeleteRecords) before the ledger read it
                missed = offset - expected
                self.report.missed[self.topic_key] = self.report.missed.get(self.topic_key, 0) + missed
                LEDGER_MISSED.labels(self.topic_key).inc(missed)
                log.warning(
                    "release ledger: %d %s records at partition %d expired before they were read "
                    "(offsets %d-%d); labels that needed them lose their context",
                    missed,
                    self.topic_key,
                    part,
                    expected,
                    offset - 1,
                )
            self.expected[part] = max(expected, offset + 1)
            ends[part] = offset + 1
            value = message.value()
            if value is None:
                continue
            key = message.key()
            if self.topic_key == "candidates" and key:
                try:
                    rows.append((part, offset, {RAW: value, KEY: key.decode()}))
                    continue
                except UnicodeDecodeError:
                    pass  # decoded now, under the item id the record names
            try:
                rows.append((part, offset, self.codec.decode(value)))
            except Exception:  # noqa: BLE001 - the owning agent dead-letters it; the ledger skips it
                self.report.undecodable[self.topic_key] = self.report.undecodable.get(self.topic_key, 0) + 1
        self.ledger.add(self.topic_key, rows, ends=ends, read_at_ms=int(time.time() * 1000))
        self.report.records[self.topic_key] = self.report.records.get(self.topic_key, 0) + len(messages)
        if self.progress is not None:
            self.progress(self.topic_key, self.report.records[self.topic_key])


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if kind is not None else "COMMIT")


def _fetch(rows: sqlite3.Cursor, size: int = 10_000) -> Iterator[tuple[Any, ...]]:
    while batch := rows.fetchmany(size):
        yield from batch


def _label_row(record: Mapping[str, Any], _max_id: int) -> tuple[Any, ...] | None:
    return (
        record["label_id"],
        record["assignment_id"],
        record["item_id"],
        record["annotator_id"],
        str(record["status"]),
        record.get("value"),
        record.get("root_cause"),
        to_ms(record["started_at"]),
        to_ms(record["submitted_at"]),
    )


def _assignment_row(record: Mapping[str, Any], max_id: int) -> tuple[Any, ...] | None:
    if assignment_violation(record, max_id_length=max_id) is not None:
        return None  # compaction ignores it too: labels citing it are UnknownAssignment
    return (
        record["assignment_id"],
        record["annotator_id"],
        record["item_id"],
        str(record["kind"]),
        json.dumps(list(record.get("classes") or [])),
        record.get("overlap_group"),
        to_ms(record["assigned_at"]),
        to_ms(record["lease_expires_at"]),
        record["model_version"],
        record["policy_version"],
    )


def _candidate_row(record: Mapping[str, Any], _max_id: int) -> tuple[Any, ...] | None:
    if RAW in record:  # kept as the broker had it, decoded when a label first needs its embedding
        return (record[KEY], None, None, record[RAW], UNDECODED)
    return (record["item_id"], to_ms(record["selected_at"]), record.get("embedding"), None, DECODED)


_WRITERS: dict[str, tuple[str, Callable[[Mapping[str, Any], int], tuple[Any, ...] | None]]] = {
    "labels": (
        "INSERT OR IGNORE INTO labels VALUES "
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, NULL, NULL, 0, ?)",
        _label_row,
    ),
    "assignments": (
        "INSERT OR IGNORE INTO assignments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        _assignment_row,
    ),
    "candidates": ("INSERT OR IGNORE INTO candidates VALUES (?, ?, ?, ?, ?, ?, ?)", _candidate_row),
}


def ledger_path(settings: AlstreamSettings) -> Path:
    return Path(settings.paths.state_dir) / LEDGER_FILE


def open_ledger(
    settings: AlstreamSettings, *, path: str | Path | None = None, labeled_candidates_only: bool = False
) -> Ledger:
    return Ledger(
        path=path or ledger_path(settings),
        max_id_length=settings.ingest.max_id_length,
        candidate_codec=codec_for("candidates", settings),
        labeled_candidates_only=labeled_candidates_only,
    )


def ledger_from_records(
    *,
    labels: Iterable[Mapping[str, Any]],
    assignments: Iterable[Mapping[str, Any]],
    embeddings: Mapping[str, bytes] | None = None,
    max_id_length: int = DEFAULT_MAX_ID_LENGTH,
) -> Ledger:
    """An in-memory ledger of decoded records in the given order (tests, in-process inputs).

    ``embeddings`` (item -> bytes) become candidates selected at the epoch, so every cut-off sees them."""
    ledger = Ledger(path=":memory:", max_id_length=max_id_length)
    ledger.add("labels", ((0, n, r) for n, r in enumerate(labels)))
    ledger.add("assignments", ((0, n, r) for n, r in enumerate(assignments)))
    ledger.add(
        "candidates",
        (
            (0, n, {"item_id": item, "selected_at": EPOCH, "embedding": emb})
            for n, (item, emb) in enumerate((embeddings or {}).items())
        ),
    )
    return ledger
