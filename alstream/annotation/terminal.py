"""The interactive reference client: one assignment at a time in a terminal.

Deliberately plain (``input()``): it documents the contract more than it tries to be a labeling UI.
The assignment kind is never shown (it would bias QA).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from alstream.annotation.auto import Summary
from alstream.annotation.client import AnnotationClient
from alstream.annotation.exceptions import InvalidLabel


def numbered(classes: list[str]) -> bool:
    """Whether the prompt offers numbers as shortcuts for the classes.

    Not when a class name is itself a number: with classes "0".."9", a shortcut [1] for "0" means
    typing 3 labels the item "2". Such classes are typed by name, which is as short.
    """
    return not any(value.strip().isdigit() for value in classes)


def prompt_for(assignment: dict[str, Any]) -> str:
    classes = assignment["classes"]
    where = assignment.get("uri") or "(no uri)"
    if numbered(classes):
        options = "  ".join(f"[{i}] {value}" for i, value in enumerate(classes, start=1))
        how = "number = label"
    else:
        options = "labels: " + "  ".join(classes)
        how = "type the label"
    return (
        f"\nitem {assignment['item_id']}  {where}  ({assignment['unit_of_work'].lower()})\n{options}\n"
        f"{how}, s = skip, c = cannot label, q = quit > "
    )


def parse_answer(text: str, classes: list[str]) -> tuple[str, str | None] | None:
    """(status, value) for an answer, ("QUIT", None) to stop, None when it is not understood.

    A class's own name always wins; numbers are shortcuts only when :func:`numbered` offers them.
    """
    typed = text.strip()
    if typed in classes:
        return ("LABELED", typed)
    lowered = typed.lower()
    if lowered == "q":
        return ("QUIT", None)
    if lowered == "s":
        return ("SKIPPED", None)
    if lowered == "c":
        return ("CANNOT_LABEL", None)
    if numbered(classes) and typed.isdigit() and 1 <= int(typed) <= len(classes):
        return ("LABELED", classes[int(typed) - 1])
    matches = [value for value in classes if value.lower() == lowered]
    if len(matches) == 1:
        return ("LABELED", matches[0])
    return None


def run_interactive(
    client: AnnotationClient,
    *,
    read: Callable[[str], str] = input,
    write: Callable[[str], None] = print,
    max_items: int | None = None,
) -> Summary:
    summary = Summary(annotator_id=client.annotator_id)
    client.online()
    write(f"Connected as {client.annotator_id}. Waiting for work (q or Ctrl-C to quit).")
    try:
        while max_items is None or summary.labeled < max_items:
            client.ready(1)
            for assignment in client.assignments(timeout_s=5.0):
                started = datetime.now(tz=UTC)
                answer = None
                while answer is None:
                    answer = parse_answer(read(prompt_for(assignment)), assignment["classes"])
                    if answer is None:
                        write(
                            "Not understood: type "
                            + ("a number, " if numbered(assignment["classes"]) else "")
                            + "a label, s, c or q."
                        )
                status, value = answer
                if status == "QUIT":
                    return summary
                try:
                    client.submit(assignment, value=value, status=status, started_at=started)
                except InvalidLabel as exc:
                    if exc.reason != "LateLabel":
                        raise
                    write("Too late: the lease expired and the item went back to the pool. Next one.")
                    continue
                summary.labeled += 1
                summary.kinds[assignment.get("kind") or "hidden"] += 1
    except (KeyboardInterrupt, EOFError):
        write("")
    finally:
        client.offline()
        client.flush()
    return summary
