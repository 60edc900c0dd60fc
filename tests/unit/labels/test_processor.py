"""LabelsProcessor without a broker: validation outcomes, dedupe, holding early labels, restore."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from alstream.agents.labels.assignments import AssignmentIndex
from alstream.agents.labels.processor import LabelsProcessor
from alstream.agents.labels.qa import QaTracker
from alstream.contracts.labels import LabelRules
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.testing import InMemoryMessage
from tests.support import records

LABELS = SingleObjectCodec("labels")
ASSIGNMENTS = SingleObjectCodec("assignments")
CLASSES = ["cat", "dog"]


def assignment(aid: str, annotator: str = "ann", item: str = "it1", kind: str = "NORMAL") -> dict[str, Any]:
    return records.assignment(aid, annotator_id=annotator, item_id=item, kind=kind, classes=CLASSES)


def label(lid: str, aid: str, **overrides: Any) -> dict[str, Any]:
    """A label claiming assignment ``aid`` (of annotator ``ann``, item ``it1``) unless overridden."""
    return records.label(lid, of=assignment(aid), **overrides)


def message(record: dict[str, Any] | bytes, offset: int = 0, ts_ms: int = 0) -> InMemoryMessage:
    value = record if isinstance(record, bytes) else LABELS.encode(record)
    return InMemoryMessage("labels", value, b"it1", 0, offset, None, ts_ms)


class Outputs:
    def __init__(self) -> None:
        self.dead: list[tuple[str, str]] = []

    def dead_letter(self, msg: Any, error: BaseException | str, text: str | None = None) -> None:
        self.dead.append((type(error).__name__, text or ""))


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock, gold: dict[str, str] | None = None) -> tuple[LabelsProcessor, AssignmentIndex]:
    index = AssignmentIndex(codec=ASSIGNMENTS, agent="labels", max_size=1_000)
    processor = LabelsProcessor(
        codec=LABELS,
        assignments=index,
        validator=LabelRules(task_classes=["cat", "dog"], root_causes=["model_bias"]),
        qa=QaTracker(gold=gold or {}, window=50, top_n=5, min_checks=1),
        hold_unknown_s=30,
        max_seen=1_000,
        clock=clock,
    )
    return processor, index


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_accepts_counts_and_dedupes() -> None:
    clock = Clock()
    processor, index = make(clock)
    index.add(assignment("a1", kind="HARD"))
    out = Outputs()
    before = sample("alstream_labels_total", kind="HARD", status="LABELED")
    dup_before = sample("alstream_labels_duplicates_total")
    processor.process([message(label("l1", "a1")), message(label("l1", "a1"), 1)], out)
    assert out.dead == []
    assert sample("alstream_labels_total", kind="HARD", status="LABELED") == before + 1
    assert sample("alstream_labels_duplicates_total") == dup_before + 1
    assert sample("alstream_label_time_per_item_seconds_sum", kind="HARD") >= 12


def test_skipped_and_cannot_label_are_counted() -> None:
    processor, index = make(Clock())
    index.add(assignment("a1"))
    index.add(assignment("a2"))
    before = sample("alstream_labels_total", kind="NORMAL", status="CANNOT_LABEL")
    out = Outputs()
    processor.process(
        [
            message(label("s1", "a1", status="SKIPPED", value=None)),
            message(label("s2", "a2", status="CANNOT_LABEL", value=None)),
        ],
        out,
    )
    assert out.dead == []
    assert sample("alstream_labels_total", kind="NORMAL", status="CANNOT_LABEL") == before + 1


def test_early_label_is_held_then_accepted_or_dead_lettered() -> None:
    clock = Clock()
    processor, index = make(clock)
    out = Outputs()
    processor.process([message(label("early", "a9")), message(label("orphan", "a404"))], out)
    assert out.dead == [] and len(processor.held) == 2
    index.add(assignment("a9"))
    processor.on_idle(out)
    assert out.dead == [] and list(processor.held) == ["orphan"]
    clock.now += 31
    processor.on_idle(out)
    assert [reason for reason, _ in out.dead] == ["UnknownAssignment"]
    assert "waited 30s" in out.dead[0][1]


def test_bad_bytes_and_rule_violations_are_dead_lettered_with_reason() -> None:
    processor, index = make(Clock())
    index.add(assignment("a1"))
    out = Outputs()
    processor.process(
        [
            message(b"this is not avro at all"),
            message(label("w", "a1", annotator_id="eve"), 1),
            message(label("v", "a1", value="fish"), 2),
        ],
        out,
    )
    assert [reason for reason, _ in out.dead] == ["WrongMagic", "WrongAnnotator", "ValueNotInClasses"]


def test_qa_errors_are_measured() -> None:
    processor, index = make(Clock(), gold={"it1": "dog"})
    index.add(assignment("a1", kind="QA"))
    errors = sample("alstream_qa_errors_total")
    processor.process([message(label("q1", "a1"))], Outputs())
    assert sample("alstream_qa_errors_total") == errors + 1
    assert sample("alstream_qa_annotator_error_rate", annotator="ann") == 1.0


def test_restore_rebuilds_dedupe_without_outputs_and_reholds_undecided_orphans() -> None:
    clock = Clock()
    processor, index = make(clock)
    index.add(assignment("a1"))
    processor.dead_lettered = {(0, 1)}
    processor.restore(
        [
            message(label("l1", "a1")),
            message(label("dead-lettered-orphan", "a404"), 1, ts_ms=int((clock.now - 3600) * 1000)),
            message(label("held-orphan", "a405"), 2, ts_ms=int((clock.now - 3600) * 1000)),
            message(b"this is not avro at all", 3),
        ]
    )
    assert list(processor.held) == ["held-orphan"]  # held when the last process stopped: decided now
    out = Outputs()
    dup_before = sample("alstream_labels_duplicates_total")
    processor.process([message(label("l1", "a1")), message(label("dead-lettered-orphan", "a404"))], out)
    assert sample("alstream_labels_duplicates_total") == dup_before + 2
    assert out.dead == []
    clock.now += 31
    processor.on_idle(out)
    assert [reason for reason, _ in out.dead] == ["UnknownAssignment"]


def test_a_refused_label_committed_while_held_is_decided_after_a_restart() -> None:
    """Killed while holding a label whose assignment it did not know yet (its offset committed): after
    the restart the assignment is known and the label breaks it, so it is dead-lettered then, not
    silently marked seen."""
    clock = Clock()
    processor, index = make(clock)
    index.add(assignment("a1"))
    recent = int((clock.now - 60) * 1000)
    processor.restore(
        [
            message(label("valid", "a1"), 0, ts_ms=recent),
            message(label("intruder", "a1", annotator_id="someone-else"), 1, ts_ms=recent),
        ]
    )
    out = Outputs()
    processor.on_idle(out)
    assert [reason for reason, _ in out.dead] == ["WrongAnnotator"]
    processor.process([message(label("intruder", "a1", annotator_id="someone-else"), 1)], out)
    assert len(out.dead) == 1  # decided once


def test_tombstone_is_dead_lettered_not_a_crash() -> None:
    processor, _ = make(Clock())
    out = Outputs()
    processor.process([InMemoryMessage("labels", None, b"k", 0, 9)], out)
    assert [reason for reason, _ in out.dead] == ["UndecodableLabel"]


def test_labels_that_break_their_own_rules_are_refused_without_waiting_for_an_assignment() -> None:
    """Whatever its assignment, such a label cannot become valid: no hold, no counting, one dead letter."""
    processor, _ = make(Clock())
    out = Outputs()
    huge_id = "x" * 2_000_000
    processor.process(
        [
            message(label("r1", "a-unknown", annotator_id="__router_tick__")),
            message(label("r2", "a-unknown", root_cause="sunspots"), 1),
            message(label(huge_id, "a-unknown"), 2),
            message(label(huge_id, "a-unknown"), 3),  # re-sent: a duplicate, not a second dead letter
        ],
        out,
    )
    assert [reason for reason, _ in out.dead] == ["ReservedAnnotator", "UnknownRootCause", "InvalidId"]
    assert processor.held == {}
    assert huge_id not in processor.seen  # a digest stands for it in the dedupe set
