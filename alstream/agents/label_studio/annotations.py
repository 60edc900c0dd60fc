"""One Label Studio annotation -> one alstream label, as a pure function.

* the annotator is ``completed_by``'s e-mail mapped back to an annotator id; anyone but the assignee is
  refused (the open-source edition shows every tab to every user, so the bridge is the check);
* a skip (``was_cancelled``) is ``SKIPPED``; otherwise the single choice of the ``label`` control is the
  value, and it must be one of the assignment's classes;
* ``submitted_at`` is when Label Studio saved this version (``updated_at``); ``started_at`` is that
  minus the time spent (``lead_time``; for an edit, only the time added since the version already
  sent), never before the task was imported, since nobody can start an item before it exists;
* the label id is derived from the annotation id and its version, so reading the same version again
  gives the same label (deduplicated downstream) and an edit gives a new label that supersedes the old
  one in the next release (releases keep the latest label per item and annotator).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from alstream.agents.label_studio.exceptions import (
    MalformedAnnotation,
    NoChoice,
    UnknownAnnotator,
    WrongAnnotator,
)
from alstream.agents.label_studio.labeling_config import CONTROL_NAME
from alstream.agents.label_studio.state import AnnotationVersion

LABEL_ID_NAMESPACE = uuid.UUID("5b0e8a3c-7c1f-4f57-9a53-7c6f2a0d51e4")
MAX_LEAD_TIME_S = 7 * 24 * 3600.0  # longer than any lease: anything above is a broken clock, not work


@dataclass(frozen=True)
class LabelDraft:
    """What the annotation SDK's ``submit`` needs, decided from one annotation version."""

    label_id: str
    status: str
    value: str | None
    started_at: datetime
    submitted_at: datetime
    version: AnnotationVersion
    edit: bool


def parse_time(text: Any) -> datetime:
    """Label Studio's ISO time (``...Z`` or with an offset) as an aware datetime."""
    if isinstance(text, datetime):
        return text if text.tzinfo else text.replace(tzinfo=UTC)
    if not isinstance(text, str) or not text:
        raise MalformedAnnotation(f"time {str(text)[:40]!r} is not an ISO-8601 string")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedAnnotation(f"time {text[:40]!r} is not ISO-8601") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _lead_time(annotation: Mapping[str, Any]) -> float:
    raw = annotation.get("lead_time")
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw) or raw < 0:
        return 0.0
    return min(float(raw), MAX_LEAD_TIME_S)


def _choice(annotation: Mapping[str, Any], classes: list[str]) -> str:
    result = annotation.get("result")
    if not isinstance(result, list):
        raise NoChoice("the annotation has no result list")
    chosen: list[Any] = []
    for region in result:
        if isinstance(region, Mapping) and region.get("from_name") == CONTROL_NAME:
            value = region.get("value")
            choices = value.get("choices") if isinstance(value, Mapping) else None
            if isinstance(choices, list):
                chosen.extend(choices)
    if len(chosen) != 1:
        raise NoChoice(f"the annotation holds {len(chosen)} choices of {CONTROL_NAME!r}, one is needed")
    (value,) = chosen
    if not isinstance(value, str) or value not in classes:
        raise NoChoice(f"choice {str(value)[:60]!r} is not one of the assignment's classes {classes}")
    return value


def label_id_for(annotation_id: int, updated_at: str, *, server: str) -> str:
    return uuid.uuid5(LABEL_ID_NAMESPACE, f"{server}|{annotation_id}|{updated_at}").hex


def draft_label(
    annotation: Mapping[str, Any],
    *,
    assignment: Mapping[str, Any],
    author: str | None,
    imported_at: datetime,
    previous: AnnotationVersion | None,
    server: str,
) -> LabelDraft:
    """The label for one annotation version, or a :class:`RejectedAnnotation` saying why not."""
    annotation_id = annotation.get("id")
    if isinstance(annotation_id, bool) or not isinstance(annotation_id, int):
        raise MalformedAnnotation(f"annotation id {str(annotation_id)[:40]!r} is not an integer")
    raw_updated = annotation.get("updated_at") or annotation.get("created_at")
    submitted_at = parse_time(raw_updated)
    updated_at = str(raw_updated)
    lead_time = _lead_time(annotation)
    if author is None:
        raise UnknownAnnotator(
            f"annotation {annotation_id} was made by Label Studio user "
            f"{str(annotation.get('completed_by'))[:40]!r}, who is not a known annotator"
        )
    if author != assignment["annotator_id"]:
        raise WrongAnnotator(
            f"annotation {annotation_id} by {author[:60]!r} answers assignment "
            f"{assignment['assignment_id']!r}, which belongs to {assignment['annotator_id']!r}"
        )
    if annotation.get("was_cancelled"):
        status, value = "SKIPPED", None
    else:
        status, value = "LABELED", _choice(annotation, list(assignment["classes"]))
    spent = lead_time if previous is None else max(0.0, lead_time - previous.lead_time)
    started_at = max(submitted_at - timedelta(seconds=spent), min(imported_at, submitted_at))
    return LabelDraft(
        label_id=label_id_for(annotation_id, updated_at, server=server),
        status=status,
        value=value,
        started_at=started_at,
        submitted_at=submitted_at,
        version=AnnotationVersion(annotation_id, updated_at, lead_time, None),
        edit=previous is not None,
    )
