"""The tool gateway without a broker: who may act for whom, label ids bound to their first content, and
assignments delivered only to the bound tool, without kind."""

from __future__ import annotations

from typing import Any

import pytest

from alstream.agents.tool_gateway.processor import TOOL_HEADER, ToolGatewayProcessor
from alstream.security.identity import IdentitySettings
from alstream.streams.batch_loop import Outputs
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.dead_letters import DeadLetterSink
from alstream.streams.testing import InMemoryMessage, InMemoryProducer
from tests.support.records import annotator_event, assignment, label

P = "t."
IDENTITY = IdentitySettings(tools={"alice-tool": ["alice"], "studio": ["ls-*"]})
CODECS = {
    name: SingleObjectCodec(name)
    for name in ("labels", "annotator-events", "assignments", "tool-assignments")
}
PARTITIONS = {
    "t.labels": 4,
    "t.annotator-events": 4,
    "t.tool.alice-tool.assignments": 4,
    "t.tool.studio.assignments": 4,
}


@pytest.fixture
def gateway() -> tuple[ToolGatewayProcessor, Outputs, InMemoryProducer]:
    producer = InMemoryProducer(partitions=4)
    outputs = Outputs(
        producer=producer,  # type: ignore[arg-type]
        dead_letters=DeadLetterSink(producer=producer, topic="t.dead-letters", agent="tool-gateway"),
    )
    processor = ToolGatewayProcessor(
        identity=IDENTITY, topic_prefix=P, codecs=CODECS, partitions=PARTITIONS, max_id_length=256
    )
    return processor, outputs, producer


def sent(tool: str, stream: str, record: dict[str, Any], *, key: str, partition: int = 0) -> InMemoryMessage:
    return InMemoryMessage(f"{P}tool.{tool}.{stream}", CODECS[stream].encode(record), key.encode(), partition)


def dead_letter_classes(producer: InMemoryProducer) -> list[str]:
    return [
        dict(m.headers() or [])["alstream.error.class"].decode() for m in producer.topics["t.dead-letters"]
    ]


def test_a_bound_tool_is_forwarded_with_the_gateway_header_only(gateway: Any) -> None:
    processor, outputs, producer = gateway
    mine = label("l1", of=assignment(annotator_id="alice", item_id="it7"))
    event = annotator_event("alice")
    message = sent("alice-tool", "labels", mine, key="it7", partition=3)
    message._headers = [("alstream.tool", b"forged")]
    processor.process(
        [message, sent("alice-tool", "annotator-events", event, key="alice", partition=2)], outputs
    )
    [forwarded] = producer.topics["t.labels"]
    assert CODECS["labels"].decode(forwarded.value()) == mine
    assert forwarded.headers() == [(TOOL_HEADER, b"alice-tool")]
    [forwarded_event] = producer.topics["t.annotator-events"]
    assert forwarded_event.partition() == 2  # the same router shard the tool addressed
    assert not producer.topics["t.dead-letters"]


def test_an_impostor_is_dead_lettered_and_nothing_is_forwarded(gateway: Any) -> None:
    processor, outputs, producer = gateway
    as_alice = label("l1", of=assignment(annotator_id="alice"))
    processor.process(
        [
            sent("studio", "labels", as_alice, key="it1"),
            sent("studio", "annotator-events", annotator_event("alice"), key="alice"),
            sent("alice-tool", "labels", label("l2", of=assignment(annotator_id="ls-9")), key="it1"),
        ],
        outputs,
    )
    assert not producer.topics["t.labels"] and not producer.topics["t.annotator-events"]
    assert dead_letter_classes(producer) == ["ImpostorAnnotator"] * 3


def test_prefix_patterns_bind_and_reserved_ids_never_do(gateway: Any) -> None:
    processor, outputs, producer = gateway
    processor.process(
        [
            sent("studio", "labels", label("l1", of=assignment(annotator_id="ls-9")), key="it1"),
            sent("studio", "annotator-events", annotator_event("__router_tick__"), key="__router_tick__"),
        ],
        outputs,
    )
    assert len(producer.topics["t.labels"]) == 1
    assert dead_letter_classes(producer) == ["ReservedAnnotator"]


def test_a_reused_label_id_keeps_the_first_content(gateway: Any) -> None:
    processor, outputs, producer = gateway
    first = label("l1", of=assignment(annotator_id="alice"), value="cat")
    again = dict(first)
    other = dict(first, value="dog")
    processor.process(
        [
            sent("alice-tool", "labels", first, key="it1"),
            sent("alice-tool", "labels", again, key="it1"),  # a re-send: forwarded again, harmless
            sent("alice-tool", "labels", other, key="it1"),
        ],
        outputs,
    )
    values = [CODECS["labels"].decode(m.value())["value"] for m in producer.topics["t.labels"]]
    assert values == ["cat", "cat"]
    assert dead_letter_classes(producer) == ["LabelIdReused"]


def test_a_restored_label_id_is_bound_across_restarts(gateway: Any) -> None:
    processor, outputs, producer = gateway
    real = label("l1", of=assignment(annotator_id="ls-1"), value="cat")
    processor.label_ids.restore(real)  # read back from the shared labels topic at start
    hijack = label("l1", of=assignment(annotator_id="alice"), value="dog")
    processor.process([sent("alice-tool", "labels", hijack, key="it1")], outputs)
    assert not producer.topics["t.labels"]
    assert dead_letter_classes(producer) == ["LabelIdReused"]


def test_garbage_and_mis_keyed_records_are_dead_lettered(gateway: Any) -> None:
    processor, outputs, producer = gateway
    mine = label("l1", of=assignment(annotator_id="alice", item_id="it1"))
    processor.process(
        [
            InMemoryMessage(f"{P}tool.alice-tool.labels", b"\x00garbage, long enough to frame", b"it1"),
            InMemoryMessage(f"{P}tool.alice-tool.labels", None, b"it1"),
            sent("alice-tool", "labels", mine, key="another-item"),
        ],
        outputs,
    )
    assert not producer.topics["t.labels"]
    assert dead_letter_classes(producer) == ["WrongMagic", "IntakeMismatch", "IntakeMismatch"]


def test_assignments_go_only_to_the_bound_tool_without_kind(gateway: Any) -> None:
    processor, outputs, producer = gateway
    work = [
        assignment("a1", annotator_id="alice", kind="QA"),
        assignment("a2", annotator_id="ls-3", kind="RANDOM"),
        assignment("a3", annotator_id="nobody", kind="HARD"),
    ]
    processor.process(
        [
            InMemoryMessage("t.assignments", CODECS["assignments"].encode(a), a["annotator_id"].encode())
            for a in work
        ],
        outputs,
    )
    [to_alice] = producer.topics["t.tool.alice-tool.assignments"]
    [to_studio] = producer.topics["t.tool.studio.assignments"]
    delivered = CODECS["tool-assignments"].decode(to_alice.value())
    assert delivered["assignment_id"] == "a1" and "kind" not in delivered
    assert CODECS["tool-assignments"].decode(to_studio.value())["assignment_id"] == "a2"
    assert b"QA" not in to_alice.value() and b"RANDOM" not in to_studio.value()
    assert not producer.topics["t.dead-letters"]  # the router's records are not the gateway's to refuse
