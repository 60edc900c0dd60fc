"""The annotation-tool SDK: consume my assignments, say when I am ready, send labels.

Contract (docs/annotation-tool-contract.md): assignments are keyed by annotator_id and live on partition
``crc32(annotator_id) % partitions`` of the assignments topic; each annotator event is sent once, keyed by
annotator_id (the router fans it out to all its shards); labels are keyed by item_id and cite the
assignment_id. Delivery is at-least-once: the router may re-send an open assignment after a restart,
so the client drops assignment ids it has already handed out.

Where ``[identity] tools`` is set (every secured deployment), the tool talks only to its own topics,
``P tool.<tool>.*`` (:mod:`alstream.security.identity`): the ACLs let only its principal write its
labels and events and read its annotators' assignments, which arrive without ``kind``; the tool gateway
agent forwards what it sends to the shared topics after checking each annotator is bound to the tool.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from alstream.annotation.exceptions import AnnotationError, InvalidLabel
from alstream.contracts.annotator_events import ready_for_problem
from alstream.contracts.assignments import assignment_violation
from alstream.contracts.enums import ANSWERED, LABEL_STATUSES
from alstream.contracts.ids import annotator_problem
from alstream.contracts.labels import LabelRules
from alstream.observability.metrics import AGENT_ERRORS
from alstream.security.identity import DELIVERY_SCHEMA, DELIVERY_TOPIC, this_tool, tool_topic
from alstream.settings import AlstreamSettings
from alstream.streams.availability import health_for, is_transient_error
from alstream.streams.codecs import codec_for
from alstream.streams.exceptions import DecodeError
from alstream.streams.kafka_config import consumer_config, producer_config
from alstream.streams.messages import coordinates
from alstream.streams.partitioning import partition_for

log = logging.getLogger(__name__)
AGENT = "annotate"

_SEEN_IDS = 10_000


def _now() -> datetime:
    return datetime.now(tz=UTC)


class AnnotationClient:
    """One annotator's connection. Not thread-safe; one per annotator and process."""

    def __init__(
        self,
        *,
        settings: AlstreamSettings,
        annotator_id: str,
        skills: Iterable[str] = (),
        group: str | None = None,
        include_expired: bool = False,
        acknowledge_explicitly: bool = False,
    ) -> None:
        problem = annotator_problem(annotator_id, max_length=settings.ingest.max_id_length)
        if problem is not None:
            raise AnnotationError(f"annotator id refused ({problem.reason}): {problem}")
        self.settings = settings
        self.rules = LabelRules.from_settings(settings)  # the verdict the labels agent and releases reach
        self.annotator_id = annotator_id
        self.skills = sorted(set(skills))
        self.group = group
        self.include_expired = include_expired
        prefix = settings.kafka.topic_prefix
        identity = settings.identity
        self.tool: str | None = None
        if identity.enforced:
            # The tool's own topics: the broker's ACLs bind them to its principal (docs/security.md).
            self.tool = this_tool(identity, settings.kafka.sasl_username)
            if not identity.may_act_for(self.tool, annotator_id):
                raise AnnotationError(
                    f"tool {self.tool!r} may not act for annotator {annotator_id!r}: bind the annotator "
                    "to the tool in [identity] tools"
                )
            self._events_topic = tool_topic(prefix, self.tool, "annotator-events")
            self._labels_topic = tool_topic(prefix, self.tool, "labels")
            self._assignments_topic = tool_topic(prefix, self.tool, DELIVERY_TOPIC)
            self._assignment_codec = codec_for(DELIVERY_SCHEMA, settings)
            # "alstream-annotate-<prefix><tool>." is the group prefix the tool's ACLs grant
            # (alstream/security/acl.py): a tool cannot move another tool's read positions.
            group_id = f"alstream-annotate-{prefix}{self.tool}.{annotator_id}"
        else:
            self._events_topic = settings.kafka.topic("annotator-events")
            self._labels_topic = settings.kafka.topic("labels")
            self._assignments_topic = settings.kafka.topic("assignments")
            self._assignment_codec = codec_for("assignments", settings)
            group_id = f"alstream-annotate-{prefix}{annotator_id}"
        self._event_codec = codec_for("annotator-events", settings)
        self._label_codec = codec_for("labels", settings)
        self._producer = Producer(producer_config(settings))
        self._consumer = Consumer(
            consumer_config(
                settings,
                group_id=group_id,
                # A tool that must do something durable with an assignment before it counts as read (the
                # Label Studio bridge imports it as a task) acknowledges explicitly; a restart re-reads
                # everything handed out after the last acknowledge().
                **{"enable.auto.offset.store": not acknowledge_explicitly},
            )
        )
        self._health = health_for(AGENT, settings)
        metadata = self._health.call(
            "metadata",
            lambda: self._producer.list_topics(timeout=15),
            patience_s=settings.kafka.outage_tolerance_s,
        )
        try:
            self._event_partitions = len(metadata.topics[self._events_topic].partitions)
            assignment_partitions = len(metadata.topics[self._assignments_topic].partitions)
        except KeyError as exc:
            raise AnnotationError(
                f"topic {exc.args[0]} does not exist: run `alstream topics create`"
            ) from None
        self._consumer.assign(
            [TopicPartition(self._assignments_topic, partition_for(annotator_id, assignment_partitions))]
        )
        self._handed_out: OrderedDict[str, None] = OrderedDict()
        self._errors: list[str] = []
        self._acknowledge_explicitly = acknowledge_explicitly
        self._read_up_to: TopicPartition | None = None  # next offset after the last record read
        self.skipped = (
            0  # records on my partition that are not assignments (the labels agent dead-letters them)
        )

    # ---- presence and demand ---------------------------------------------------------------------
    def online(self, *, skills: Iterable[str] | None = None, group: str | None = None) -> None:
        """Announce the annotator (with skill tags and calibration group)."""
        if skills is not None:
            self.skills = sorted(set(skills))
        if group is not None:
            self.group = group
        self._event("ONLINE")

    def offline(self) -> None:
        """Going away: the router returns this annotator's unlabeled work to the pool."""
        self._event("OFFLINE")

    def set_skills(self, skills: Iterable[str]) -> None:
        self.skills = sorted(set(skills))
        self._event("SKILLS")

    def ready(self, n: int = 1) -> None:
        """Ask for up to ``n`` more assignments (1-100), within the annotator's in-flight cap."""
        problem = ready_for_problem(n)
        if problem is not None:
            raise AnnotationError(str(problem))
        self._event("READY", ready_for=n)

    def _event(self, event_type: str, *, ready_for: int = 0) -> None:
        record = {
            "event_id": uuid.uuid4().hex,
            "annotator_id": self.annotator_id,
            "event_type": event_type,
            "ready_for": ready_for,
            "skills": self.skills,
            "group": self.group,
            "occurred_at": _now(),
        }
        value = self._event_codec.encode(record)
        # One event on the annotator's home partition; the router copies it to every other shard.
        self._produce(
            self._events_topic,
            key=self.annotator_id,
            value=value,
            partition=partition_for(self.annotator_id, self._event_partitions),
        )
        self._producer.poll(0)

    # ---- work ------------------------------------------------------------------------------------
    def assignments(self, timeout_s: float = 1.0, *, max_records: int = 100) -> list[dict[str, Any]]:
        """This annotator's new assignments that arrive within ``timeout_s`` (may be empty).

        Returns as soon as at least one arrived and the partition is drained. Voided (lease expired),
        already-handed-out, another annotator's and malformed (refused by the assignment contract on
        this machine's clock: an impossible time, a reserved identity) assignments are dropped;
        a record that is not a decodable assignment is skipped (logged and counted); while the broker
        does not answer, nothing arrives.
        """
        out: list[dict[str, Any]] = []
        deadline = _now().timestamp() + timeout_s
        while True:
            remaining = deadline - _now().timestamp()
            messages = self._consumer.consume(max_records, timeout=max(0.0, remaining) if not out else 0.05)
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.fatal() or not is_transient_error(error):
                        raise AnnotationError(f"assignments consumer error: {error}")
                    if error.code() != KafkaError._PARTITION_EOF:
                        self._health.failed("read assignments", error)
                    continue
                topic, partition, offset = coordinates(message)
                self._read_up_to = TopicPartition(topic, partition, offset + 1)
                if message.key() != self.annotator_id.encode():
                    continue
                try:
                    assignment = self._assignment_codec.decode(message.value())
                except DecodeError as exc:
                    self.skipped += 1
                    AGENT_ERRORS.labels(AGENT, type(exc).__name__).inc()
                    log.warning(
                        "skipping a record at %s[%s]@%s that is not an assignment: %s",
                        topic,
                        partition,
                        offset,
                        exc,
                    )
                    continue
                if assignment["assignment_id"] in self._handed_out:
                    continue
                if assignment["annotator_id"] != self.annotator_id:  # another client's work: never ours
                    self.skipped += 1
                    continue
                violation = assignment_violation(
                    assignment,
                    max_id_length=self.rules.max_id_length,
                    now_ms=int(_now().timestamp() * 1000),
                    skew_ms=self.rules.skew_ms,
                )
                if violation is not None:
                    self.skipped += 1
                    log.warning(
                        "skipping assignment %s at %s[%s]@%s: %s",
                        assignment["assignment_id"],
                        topic,
                        partition,
                        offset,
                        violation,
                    )
                    continue
                if not self.include_expired and assignment["lease_expires_at"] <= _now():
                    continue
                self._remember(assignment["assignment_id"])
                out.append(assignment)
            if (out and not messages) or _now().timestamp() >= deadline:
                return out

    def acknowledge(self) -> None:
        """Mark every assignment returned so far as handled (with ``acknowledge_explicitly=True``).

        The position is committed in the background; a tool restarted before this call is given the
        unacknowledged assignments again (deduplicate them by ``assignment_id``).
        """
        if not self._acknowledge_explicitly:
            raise AnnotationError("acknowledge() needs AnnotationClient(acknowledge_explicitly=True)")
        if self._read_up_to is not None:
            self._consumer.store_offsets(offsets=[self._read_up_to])

    def _remember(self, assignment_id: str) -> None:
        self._handed_out[assignment_id] = None
        while len(self._handed_out) > _SEEN_IDS:
            self._handed_out.popitem(last=False)

    def submit(
        self,
        assignment: dict[str, Any],
        *,
        value: str | None = None,
        started_at: datetime,
        submitted_at: datetime | None = None,
        status: str = "LABELED",
        root_cause: str | None = None,
        label_id: str | None = None,
    ) -> str:
        """Send the label for an assignment; returns its label_id (pass one to make retries idempotent).

        Raises :class:`InvalidLabel` (its ``reason`` the label contract's) for a label the labels agent
        would refuse: a value outside the classes, reversed times, another annotator's assignment, an
        unknown root cause, or a submission after the lease expired (``LateLabel``: the item is back
        in the pool by then)."""
        submitted_at = submitted_at or _now()
        if status not in LABEL_STATUSES:
            raise InvalidLabel(f"status must be one of {', '.join(LABEL_STATUSES)}, got {status!r}")
        if assignment["annotator_id"] != self.annotator_id:
            raise InvalidLabel(
                f"assignment {assignment['assignment_id']} belongs to {assignment['annotator_id']}",
                reason="WrongAnnotator",
            )
        label_id = label_id or uuid.uuid4().hex
        record = {
            "label_id": label_id,
            "assignment_id": assignment["assignment_id"],
            "item_id": assignment["item_id"],
            "annotator_id": self.annotator_id,
            "status": status,
            "value": value if status == ANSWERED else None,
            "root_cause": root_cause,
            "started_at": started_at,
            "submitted_at": submitted_at,
        }
        violation = self.rules.verdict(record, assignment)
        if violation is not None:
            raise InvalidLabel(str(violation), reason=violation.reason)
        self._produce(self._labels_topic, key=assignment["item_id"], value=self._label_codec.encode(record))
        self._producer.poll(0)
        return label_id

    def _produce(self, topic: str, *, key: str, value: bytes, partition: int | None = None) -> None:
        kwargs: dict[str, Any] = {"key": key.encode(), "value": value, "on_delivery": self._on_delivery}
        if partition is not None:
            kwargs["partition"] = partition
        try:
            self._producer.produce(topic, **kwargs)
        except BufferError:
            self._producer.poll(1.0)
            self._producer.produce(topic, **kwargs)

    def _on_delivery(self, err: Any, _message: Any) -> None:
        if err is not None:
            self._errors.append(str(err))

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until everything sent was acknowledged (up to ``timeout_s``, by default as long as the
        producer retries through an outage: ``kafka.outage_tolerance_s``); raise if the broker refused
        something or it did not answer in time."""
        left = self._producer.flush(
            self.settings.kafka.outage_tolerance_s if timeout_s is None else timeout_s
        )
        if left or self._errors:
            raise AnnotationError(f"{left} records unacknowledged, errors: {self._errors[:3]}")

    def close(self) -> None:
        try:
            self.flush()
        finally:
            with contextlib.suppress(KafkaException):  # closing twice raises
                self._consumer.close()

    def __enter__(self) -> AnnotationClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
