"""The labels agent dead-letters an assignment that breaks the assignment contract (an impossible time,
a reserved identity) through its side reader, with the broken rule, and never indexes it."""

from __future__ import annotations

from datetime import UTC, datetime

from alstream.agents.labels.assignments import AssignmentIndex
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.config import KafkaSettings, StreamsSettings
from alstream.streams.runtime import AgentRuntime
from alstream.streams.stopping import StopFlag
from alstream.streams.testing import InMemoryBroker, InMemoryMessage
from tests.support.records import assignment

ASSIGNMENTS = SingleObjectCodec("assignments")
DEAD_LETTERS = SingleObjectCodec("dead-letters")


def test_assignments_that_break_the_contract_are_dead_lettered_with_the_rule() -> None:
    broker = InMemoryBroker()
    runtime = AgentRuntime(
        agent="labels",
        config=StreamsSettings(kafka=KafkaSettings(bootstrap_servers="in-memory", topic_prefix="p.")),
        stop=StopFlag(),
        producer=broker.producer(),
        earlier_dead_letters={},
    )
    index = AssignmentIndex(codec=ASSIGNMENTS, agent="labels", max_size=100)
    now = datetime.now(UTC)
    records = [
        assignment("future", annotator_id="ann", assigned_at=datetime(9999, 1, 1, tzinfo=UTC)),
        assignment("intruder", annotator_id="__intruder__", assigned_at=now),
        assignment("fine", annotator_id="ann", assigned_at=now),
    ]
    handled = [
        runtime.guarded(
            InMemoryMessage("p.assignments", ASSIGNMENTS.encode(r), b"ann", 0, offset),
            index.add_message,
            what="assignments",
        )
        for offset, r in enumerate(records)
    ]
    runtime.producer.flush(0)
    assert handled == [False, False, True]
    assert index.get("fine") is not None and index.get("future") is None and index.get("intruder") is None
    letters = [DEAD_LETTERS.decode(m.value()) for m in broker.messages("p.dead-letters")]
    assert [(d["source_offset"], d["error_class"]) for d in letters] == [
        (0, "ImpossibleTime"),
        (1, "ReservedAnnotator"),
    ]
    assert "assigned_at" in letters[0]["error_message"]
