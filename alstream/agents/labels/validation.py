"""The rules a label must satisfy against its assignment, as a pure function.

Shared by the labels agent (which dead-letters violations) and the agreement agent (which must only
count labels the labels agent accepts), so both always agree on what a valid label is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from alstream.agents.labels.exceptions import (
    InvalidLabel,
    SubmittedBeforeStarted,
    UnknownAssignment,
    UnknownRootCause,
    ValueNotInClasses,
    WrongAnnotator,
    WrongItem,
)


def _short(value: object, limit: int = 60) -> str:
    """repr of a user-supplied value, cut so a huge payload never lands in error headers or logs."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"...({len(text)} chars)"


class LabelValidator:
    """Checks one decoded label against its decoded assignment; raises the specific :class:`InvalidLabel`."""

    def __init__(self, *, task_classes: Sequence[str], root_causes: Sequence[str]) -> None:
        self.task_classes = tuple(task_classes)
        self.root_causes = frozenset(root_causes)

    def classes_of(self, assignment: Mapping[str, Any]) -> Sequence[str]:
        """The assignment's classes if it carries them, else the task's (older routers sent none)."""
        return assignment.get("classes") or self.task_classes

    def check(self, label: Mapping[str, Any], assignment: Mapping[str, Any] | None) -> None:
        if assignment is None:
            raise UnknownAssignment(f"assignment {_short(label['assignment_id'])} is unknown")
        if label["annotator_id"] != assignment["annotator_id"]:
            raise WrongAnnotator(
                f"label by {_short(label['annotator_id'])} "
                f"but assignment {_short(assignment['assignment_id'])} "
                f"belongs to {_short(assignment['annotator_id'])}"
            )
        if label["item_id"] != assignment["item_id"]:
            raise WrongItem(
                f"label for item {_short(label['item_id'])} "
                f"but assignment {_short(assignment['assignment_id'])} "
                f"is for item {_short(assignment['item_id'])}"
            )
        if label["status"] == "LABELED":
            classes = self.classes_of(assignment)
            if label.get("value") not in classes:
                raise ValueNotInClasses(
                    f"value {_short(label.get('value'))} is not one of the task's classes {list(classes)}"
                )
        if label["submitted_at"] < label["started_at"]:
            raise SubmittedBeforeStarted(
                f"submitted_at {label['submitted_at'].isoformat()} is before started_at "
                f"{label['started_at'].isoformat()}"
            )
        cause = label.get("root_cause")
        if cause is not None and cause not in self.root_causes:
            raise UnknownRootCause(
                f"root_cause {_short(cause)} is not in the configured list {sorted(self.root_causes)} "
                "(ALSTREAM_LABELS__ROOT_CAUSES)"
            )

    def verdict(self, label: Mapping[str, Any], assignment: Mapping[str, Any] | None) -> InvalidLabel | None:
        """Like :meth:`check` but returns the violation instead of raising it."""
        try:
            self.check(label, assignment)
        except InvalidLabel as exc:
            return exc
        return None
