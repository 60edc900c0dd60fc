"""The gateway's logic: each tool's intake forwarded to the shared topics, and each annotator's work
delivered to the tools bound to it, without ``kind``.

The principal is known from the topic a record arrived on (the ACLs let only ``User:<tool>`` write
``P tool.<tool>.*``), so a record is forwarded only when its ``annotator_id`` is bound to that tool.
A ``label_id`` is bound to the content it first arrived with: a later label with the same id and other
content is dead-lettered, so it can neither replace nor hide the first one in a release.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Message

from alstream.agents.tool_gateway.exceptions import ImpostorAnnotator, IntakeMismatch, LabelIdReused
from alstream.agents.tool_gateway.metrics import GATEWAY_RECORDS, LABEL_IDS
from alstream.contracts.assignments import assignment_violation
from alstream.contracts.ids import annotator_problem
from alstream.security.identity import DELIVERY_TOPIC, IdentitySettings, parse_tool_topic, tool_topic
from alstream.streams.batch_loop import Outputs
from alstream.streams.codecs import RecordCodec
from alstream.streams.exceptions import DecodeError
from alstream.streams.messages import Headers, coordinates
from alstream.streams.partitioning import partition_for

log = logging.getLogger(__name__)

TOOL_HEADER = "alstream.tool"  # which tool (principal) a forwarded record came from, for audits


def label_digest(label: Mapping[str, Any]) -> bytes:
    """What a label says, as 16 bytes: equal for a re-sent copy, different for any changed field."""
    canonical = json.dumps(dict(label), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.blake2b(canonical.encode(), digest_size=16).digest()


class LabelIdRegistry:
    """label_id -> digest of its first content. About 100 bytes per label id: the gateway holds every
    label id of the labels topic (rebuilt from it at start), as a release does."""

    def __init__(self) -> None:
        self._first: dict[str, bytes] = {}

    def restore(self, label: Mapping[str, Any]) -> None:
        self._first.setdefault(str(label["label_id"]), label_digest(label))
        LABEL_IDS.set(len(self._first))

    def admit(self, label: Mapping[str, Any]) -> bool:
        """True for a new label id or a re-sent copy of its first content; False for a reuse."""
        digest = label_digest(label)
        first = self._first.setdefault(str(label["label_id"]), digest)
        LABEL_IDS.set(len(self._first))
        return first == digest

    def __len__(self) -> int:
        return len(self._first)


class ToolGatewayProcessor:
    """A :class:`~alstream.streams.batch_loop.BatchProcessor` over every tool's intake topics and the
    shared assignments topic."""

    def __init__(
        self,
        *,
        identity: IdentitySettings,
        topic_prefix: str,
        codecs: Mapping[str, RecordCodec],
        partitions: Mapping[str, int],
        max_id_length: int,
        label_ids: LabelIdRegistry | None = None,
    ) -> None:
        """``codecs``: "labels", "annotator-events", "assignments" and "tool-assignments";
        ``partitions``: topic name -> partition count of every topic the gateway writes."""
        self.identity = identity
        self.prefix = topic_prefix
        self.codecs = codecs
        self.partitions = partitions
        self.max_id_length = max_id_length
        self.label_ids = label_ids or LabelIdRegistry()
        self.shared_assignments = f"{topic_prefix}{DELIVERY_TOPIC}"

    def process(self, messages: list[Message], outputs: Outputs) -> None:
        for message in messages:
            topic, partition, _ = coordinates(message)
            if topic == self.shared_assignments:
                self._deliver(message, outputs)
                continue
            parsed = parse_tool_topic(self.prefix, topic)
            if parsed is None or parsed[1] == DELIVERY_TOPIC:
                log.warning("tool gateway: ignoring a record of %s, which it does not serve", topic)
                continue
            tool, stream = parsed
            refusal = self._intake_refusal(tool, stream, message)
            if refusal is not None:
                GATEWAY_RECORDS.labels(tool, stream, "refused").inc()
                log.warning(
                    "tool gateway: refused %s from tool %s at %s[%s]@%s: %s: %s",
                    stream,
                    tool,
                    topic,
                    message.partition(),
                    message.offset(),
                    type(refusal).__name__,
                    refusal,
                )
                outputs.dead_letter(message, refusal, f"{type(refusal).__name__}: {refusal}")
                continue
            self._forward(message, partition, tool=tool, topic=f"{self.prefix}{stream}", outputs=outputs)
            GATEWAY_RECORDS.labels(tool, stream, "forwarded").inc()

    def on_idle(self, outputs: Outputs) -> None:
        return None

    # -- intake: what a tool sends ---------------------------------------------------------------

    def _intake_refusal(self, tool: str, stream: str, message: Message) -> Exception | None:
        value = message.value()
        if value is None:
            return IntakeMismatch(f"a {stream} record without a value")
        try:
            record = self.codecs[stream].decode(value)
        except DecodeError as exc:
            return exc
        annotator_id = record["annotator_id"]
        problem = annotator_problem(annotator_id, max_length=self.max_id_length)
        if problem is not None:
            return problem
        if not self.identity.may_act_for(tool, annotator_id):
            return ImpostorAnnotator(
                f"tool {tool!r} may not act for annotator {annotator_id[:100]!r} ([identity] tools)"
            )
        if stream == "annotator-events" and message.key() != annotator_id.encode():
            return IntakeMismatch("an annotator event must be keyed by its annotator_id")
        if stream == "labels" and message.key() != str(record["item_id"]).encode():
            return IntakeMismatch("a label must be keyed by its item_id")
        if stream == "labels" and not self.label_ids.admit(record):
            return LabelIdReused(
                f"label_id {str(record['label_id'])[:100]!r} was first sent with other content; the first "
                "label stands (to change an answer, send a new label_id for the same assignment)"
            )
        return None

    def _forward(self, message: Message, partition: int, *, tool: str, topic: str, outputs: Outputs) -> None:
        if topic.endswith("labels"):  # the partition of its item: the router shard that leased it
            target = partition_for(message.key() or b"", self.partitions[topic])
        else:  # same index: an event sent to each partition (a router shard each) reaches each shard
            target = partition % self.partitions[topic]
        self._produce(outputs, topic, message.value(), message.key(), target, tool)

    # -- delivery: what a tool reads -------------------------------------------------------------

    def _deliver(self, message: Message, outputs: Outputs) -> None:
        value = message.value()
        try:
            assignment = self.codecs["assignments"].decode(value) if value is not None else None
        except DecodeError:
            assignment = None
        if assignment is None or assignment_violation(assignment, max_id_length=self.max_id_length):
            # The labels agent dead-letters malformed assignments; a tool must never see them.
            GATEWAY_RECORDS.labels("-", DELIVERY_TOPIC, "malformed").inc()
            return
        annotator_id = assignment["annotator_id"]
        tools = self.identity.tools_for(annotator_id)
        if not tools:
            GATEWAY_RECORDS.labels("-", DELIVERY_TOPIC, "unbound").inc()
            return
        without_kind = {name: field for name, field in assignment.items() if name != "kind"}
        encoded = self.codecs["tool-assignments"].encode(without_kind)
        for tool in tools:
            topic = tool_topic(self.prefix, tool, DELIVERY_TOPIC)
            partition = partition_for(annotator_id, self.partitions[topic])
            self._produce(outputs, topic, encoded, annotator_id.encode(), partition, tool)
            GATEWAY_RECORDS.labels(tool, DELIVERY_TOPIC, "delivered").inc()

    @staticmethod
    def _produce(
        outputs: Outputs, topic: str, value: bytes | None, key: bytes | None, partition: int, tool: str
    ) -> None:
        # Only the gateway's own header: a tool's headers are not trusted downstream.
        headers: Headers = [(TOOL_HEADER, tool.encode())]
        while True:
            try:
                outputs.producer.produce(
                    topic,
                    value=value,
                    key=key,
                    partition=partition,
                    headers=headers,
                    on_delivery=outputs.on_delivery,
                )
                return
            except BufferError:  # local queue full: serve delivery reports, then retry
                outputs.producer.poll(0.05)
