"""Every assignment the router made, indexed for label validation and overlap groups.

Filled from a side reader of the assignments topic (all partitions, from the beginning; see
:mod:`alstream.streams.runtime`), so any instance can validate any label. An assignment that breaks
the assignment contract (:mod:`alstream.contracts.assignments`, judged on this agent's clock) is not
indexed: a label citing it is ``UnknownAssignment``, as release compaction decides too; read from the
topic, it is dead-lettered with the broken rule, so the operator finds it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from alstream.contracts.assignments import assignment_violation
from alstream.contracts.exceptions import ContractViolation
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
        self,
        *,
        codec: RecordCodec,
        agent: str,
        max_size: int,
        max_id_length: int = DEFAULT_MAX_ID_LENGTH,
        clock_skew_s: float = 300.0,
    ) -> None:
        self.codec = codec
        self.agent = agent
        self.max_id_length = max_id_length
        self.skew_ms = int(clock_skew_s * 1000)
        self._by_id: BoundedMap[str, dict[str, Any]] = BoundedMap(max_size=max_size)
        self._groups: BoundedMap[str, set[str]] = BoundedMap(max_size=max_size)

    def __len__(self) -> int:
        return len(self._by_id)

    def add(self, record: dict[str, Any]) -> None:
        """Index ``record`` unless it breaks the assignment contract (then it is logged and counted)."""
        self.admit(record)

    def admit(self, record: dict[str, Any]) -> ContractViolation | None:
        """Index ``record``; returns the rule it breaks (then it is not indexed), or None."""
        violation = assignment_violation(
            record, max_id_length=self.max_id_length, now_ms=int(time.time() * 1000), skew_ms=self.skew_ms
        )
        if violation is not None:  # the router's to fix: logged and counted, never indexed
            AGENT_ERRORS.labels(self.agent, violation.reason).inc()
            log.warning("%s: assignment refused (%s): %s", self.agent, violation.reason, violation)
            return violation
        kept = {name: record.get(name) for name in KEEP}
        assignment_id: str = record["assignment_id"]
        self._by_id[assignment_id] = kept
        group = kept.get("overlap_group")
        if group:
            members = self._groups.get(group) or set()
            members.add(assignment_id)
            self._groups[group] = members
        return None

    def add_message(self, message: Any) -> None:
        """Decode one assignments-topic record and add it; a record that does not decode, or breaks the
        assignment contract, raises (the runtime's side reader dead-letters it)."""
        violation = self.admit(self.codec.decode(message.value()))
        if violation is not None:
            raise violation

    def ingest(self, messages: Iterable[Any]) -> int:
        """Decode and add assignment records; undecodable ones are the router's to fix (logged, counted)."""
        return decode_into(messages, codec=self.codec, add=self.add, agent=self.agent, what="assignment")

    def get(self, assignment_id: str) -> dict[str, Any] | None:
        return self._by_id.get(assignment_id)

    def group(self, overlap_group: str) -> set[str]:
        return set(self._groups.get(overlap_group) or ())
