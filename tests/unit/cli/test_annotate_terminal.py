"""The interactive annotation client labels what the annotator typed, whatever the class names are."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from alstream.annotation.terminal import numbered, parse_answer, prompt_for, run_interactive

DIGITS = [str(n) for n in range(10)]


def _assignment(classes: list[str]) -> dict[str, Any]:
    return {"item_id": "i-1", "uri": None, "unit_of_work": "ITEM", "classes": classes, "kind": "NORMAL"}


def test_digit_classes_are_typed_by_name_not_by_a_shifted_number() -> None:
    assert not numbered(DIGITS)
    prompt = prompt_for(_assignment(DIGITS))
    assert "[1]" not in prompt and "labels: 0  1  2" in prompt
    assert parse_answer("3", DIGITS) == ("LABELED", "3")
    assert parse_answer("0", DIGITS) == ("LABELED", "0")
    assert parse_answer("10", DIGITS) is None


def test_word_classes_keep_their_number_shortcuts() -> None:
    classes = ["cat", "dog", "bird"]
    assert numbered(classes)
    assert "[1] cat  [2] dog  [3] bird" in prompt_for(_assignment(classes))
    assert parse_answer("2", classes) == ("LABELED", "dog")
    assert parse_answer("Bird", classes) == ("LABELED", "bird")


class FakeClient:
    annotator_id = "alice"

    def __init__(self, assignments: list[dict[str, Any]]) -> None:
        self.pending = list(assignments)
        self.submitted: list[tuple[str | None, str]] = []

    def online(self) -> None: ...
    def offline(self) -> None: ...
    def flush(self) -> None: ...
    def ready(self, n: int) -> None: ...

    def assignments(self, *, timeout_s: float) -> Iterator[dict[str, Any]]:
        while self.pending:
            yield self.pending.pop(0)

    def submit(self, assignment: dict[str, Any], *, value: str | None, status: str, started_at: Any) -> None:
        self.submitted.append((value, status))


def test_a_session_with_digit_classes_submits_the_typed_digit() -> None:
    client = FakeClient([_assignment(DIGITS), _assignment(DIGITS)])
    answers = iter(["7", "s"])
    shown: list[str] = []
    run_interactive(client, read=lambda prompt: next(answers), write=shown.append, max_items=2)  # type: ignore[arg-type]
    assert client.submitted == [("7", "LABELED"), (None, "SKIPPED")]
