"""Every assignment the router made, indexed for label validation and overlap groups.

Filled from a side reader of the assignments topic (all partitions, from the beginning; see
:mod:`alstream.streams.runtime`), so any instance can validate any label. An assignment that breaks
the assignment contract (:mod:`alstream.contracts.assignments`) is not indexed: a label citing it is
``UnknownAssignment``, as release compaction decides too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from alstream.contracts.assignments import assignment_violation
from alstream.contracts.ids import DEFAULT_MAX_ID_LENGTH
from alstream.observability.metrics import AGENT_ERRORS
from alstream.streams.bounded import BoundedMap
from alstream.streams.codecs import RecordCodec
from alstream.streams.decoding import decode_into

log = logging.getLogger(__name__)

KEEP = (
    "assignment_id",
    "annotator_id",
    "item_id",
    "kind",
    "classes",
    "overlap_group",
    "assigned_at",
    "lease_expires_at",
    "model_version",
    "policy_version",
)


class AssignmentIndex:
    """assignment_id -> the fields labels are checked against; overlap_group -> its assignment ids."""

    def __init__(
        self, *, codec: RecordCodec, agent: str, max_size: int, max_id_length: int = DEFAULT_MAX_ID_LENGTH
    ) -> None:
        self.codec = codec
        self.agent = agent
        self.max_id_length = max_id_length
        self._by_id: BoundedMap[str, dict[str, Any]] = BoundedMap(max_size=max_size)
        self._groups: BoundedMap[str, set[str]] = BoundedMap(max_size=max_size)

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, record: dict[str, Any]) -> None:
        violation = assignment_violation(record, max_id_length=self.max_id_length)
        if violation is not None:  # the router's to fix: logged and counted, never indexed
            AGENT_ERRORS.labels(self.agent, violation.reason).inc()
            log.warning("%s: assignment refused (%s): %s", self.agent, violation.reason, violation)
            return
        kept = {name: record.get(name) for name in KEEP}
        assignment_id: str = record["assignment_id"]
        self._by_id[assignment_id] = kept
        group = kept.get("overlap_group")
        if group:
            members = self._groups.get(group) or set()
            members.add(assignment_id)
            self._groups[group] = members

    def add_message(self, message: Any) -> None:
        """Decode one assignments-topic record and add it (a record that does not decode raises)."""
        self.add(self.codec.decode(message.value()))

    def ingest(self, messages: Iterable[Any]) -> int:
        """Decode and add assignment records; undecodable ones are the router's to fix (logged, counted)."""
        return decode_into(messages, codec=self.codec, add=self.add, agent=self.agent, what="assignment")

    def get(self, assignment_id: str) -> dict[str, Any] | None:
        return self._by_id.get(assignment_id)

    def group(self, overlap_group: str) -> set[str]:
        return set(self._groups.get(overlap_group) or ())
