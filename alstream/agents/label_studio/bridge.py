"""The bridge's cycle: assignments in as tasks, annotations out as labels, presence to the router.

One cycle (every ``poll_interval_s``, sooner on a webhook hint):

1. read the annotators' Label Studio activity;
2. import the assignments that arrived (each as one task in the annotator's queue tab; this step also
   runs between full cycles) and only then acknowledge them, so a crash re-reads what was not imported;
3. read tasks updated past the persisted watermark, turn new annotation versions into labels (or dead
   letters), wait until the broker has them, then record the versions and the new watermark in one
   transaction;
4. take tasks whose lease expired out of the queues;
5. tell the router who is ONLINE, READY for how many, or OFFLINE.

The bridge talks to alstream only through the annotation SDK's calls (online, ready, offline,
assignments, acknowledge, submit, flush), one channel per annotator: however the SDK carries them, the
bridge does not change.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from alstream.agents.label_studio import labeling_config
from alstream.agents.label_studio import metrics as m
from alstream.agents.label_studio.annotations import draft_label, parse_time
from alstream.agents.label_studio.api import LabelStudioApi
from alstream.agents.label_studio.config import LabelStudioSettings
from alstream.agents.label_studio.exceptions import (
    LabelStudioUnavailable,
    ProjectConflict,
    RejectedAnnotation,
    UnknownTask,
)
from alstream.agents.label_studio.payload import displayable, task_data
from alstream.agents.label_studio.presence import Presence
from alstream.agents.label_studio.state import REMOVED, AnnotationVersion, BridgeState, TaskRecord
from alstream.annotation.exceptions import InvalidLabel
from alstream.observability.metrics import AGENT_ERRORS

AGENT = "label-studio"
SOURCE = "label-studio"  # the dead letters' source (annotations do not come from a topic)
MAX_DEAD_LETTER_BYTES = 256 * 1024
COMMIT_EVERY = 200  # annotation versions per transaction while working through a backlog
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
log = logging.getLogger(__name__)


class AnnotatorChannel(Protocol):
    """What the bridge uses of :class:`alstream.annotation.client.AnnotationClient`."""

    annotator_id: str

    def online(self) -> None: ...
    def offline(self) -> None: ...
    def ready(self, n: int = 1) -> None: ...
    def assignments(self, timeout_s: float = 1.0) -> list[dict[str, Any]]: ...
    def acknowledge(self) -> None: ...
    def submit(
        self,
        assignment: dict[str, Any],
        *,
        value: str | None = None,
        started_at: datetime,
        submitted_at: datetime | None = None,
        status: str = "LABELED",
        label_id: str | None = None,
    ) -> str: ...
    def flush(self, timeout_s: float = 15.0) -> None: ...
    def close(self) -> None: ...


class DeadLetters(Protocol):
    def send(self, *, key: str, value: bytes, error: BaseException) -> None: ...
    def flush(self) -> None: ...


class Bridge:
    """State lives in ``state`` (SQLite) and Label Studio; the rest is rebuilt at start."""

    def __init__(
        self,
        *,
        config: LabelStudioSettings,
        task_name: str,
        task_classes: list[str],
        api: LabelStudioApi,
        state: BridgeState,
        open_channel: Callable[[str], AnnotatorChannel],
        dead_letters: DeadLetters,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.task_classes = list(task_classes)
        self.api = api
        self.state = state
        self.dead_letters = dead_letters
        self.clock = clock
        self.title = config.project_title_for(task_name)
        self._open_channel = open_channel
        self.channels: dict[str, AnnotatorChannel] = {}
        self.presence = Presence(
            annotator_ids=config.annotators,
            idle_timeout_s=config.idle_timeout_s,
            queue_size=config.queue_size,
            now=clock(),
        )
        self.project_id: int | None = None
        self._pending: dict[str, list[dict[str, Any]]] = {a: [] for a in config.annotators}
        self._views: set[str] = set()
        self._user_email: dict[int, str] = {}
        self._emails: set[str] = set()
        self._annotator_by_email = {config.email_of(a): a for a in config.annotators}

    # ---- start ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Find (or, when the data type is fixed, create) the project and open every annotator's channel."""
        self.api.whoami()  # a wrong URL or token fails here, not on the first assignment
        stored = self.state.get("project_id")
        found = self.api.find_project(self.title)
        if found is not None:
            self._use_project(found)
        elif self.config.data_type != "auto":
            self._create_project(self.config.data_type)
        if stored is not None and self.project_id is not None and int(stored) != self.project_id:
            log.warning("project %r is now %s (was %s)", self.title, self.project_id, stored)
        for annotator_id in self.config.annotators:
            self.channel(annotator_id)

    def channel(self, annotator_id: str) -> AnnotatorChannel:
        if annotator_id not in self.channels:
            self.channels[annotator_id] = self._open_channel(annotator_id)
        return self.channels[annotator_id]

    def _use_project(self, project: dict[str, Any]) -> None:
        self.project_id = int(project["id"])
        self.state.put("project_id", str(self.project_id))
        data_type, classes = labeling_config.read(project.get("label_config") or "")
        if classes != self.task_classes or data_type is None:
            wanted = (
                data_type or (None if self.config.data_type == "auto" else self.config.data_type) or "image"
            )
            try:
                self.api.update_label_config(
                    self.project_id, labeling_config.build(self.task_classes, wanted)
                )
            except LabelStudioUnavailable as exc:
                raise ProjectConflict(
                    f"project {self.title!r} asks for {classes or 'something else'}, the task's classes are "
                    f"{self.task_classes}, and Label Studio refused the new labeling config ({exc}); "
                    "use another [label_studio] project_title or fix the project by hand"
                ) from exc
        self._views = {v["data"].get("title") for v in self.api.views(self.project_id) if v.get("data")}
        self._ensure_webhook()

    def _create_project(self, data_type: labeling_config.DataType) -> None:
        project = self.api.create_project(
            title=self.title,
            label_config=labeling_config.build(self.task_classes, data_type),
            description="Work routed by alstream: each annotator labels the tasks in their own tab.",
        )
        self.project_id = int(project["id"])
        self.state.put("project_id", str(self.project_id))
        log.info("created Label Studio project %r (%s, %s)", self.title, self.project_id, data_type)
        self._ensure_webhook()

    def _ensure_webhook(self) -> None:
        if self.config.webhook_port and self.project_id is not None:
            url = self.config.webhook_url or f"http://127.0.0.1:{self.config.webhook_port}/"
            self.api.ensure_webhook(self.project_id, url)

    # ---- one cycle -----------------------------------------------------------------------------------
    def cycle(self, *, full: bool = True) -> None:
        """One cycle; ``full=False`` only imports arrived assignments (cheap: no Label Studio call unless
        something arrived), which the agent does between the polls so new work shows up at once."""
        now = self.clock()
        if full:
            self._refresh_users()
        self._intake()
        if full:
            if self.project_id is not None:
                self._poll(now)
                self._sweep_expired(now)
            self._announce(now)
        self._export()

    def _refresh_users(self) -> None:
        for user in self.api.users():
            email = str(user.get("email") or "").lower()
            if not isinstance(user.get("id"), int):
                continue
            self._user_email[user["id"]] = email
            self._emails.add(email)
            annotator_id = self._annotator_by_email.get(email)
            if annotator_id is not None and user.get("last_activity"):
                try:
                    self.presence.observe(annotator_id, parse_time(user["last_activity"]).timestamp())
                except RejectedAnnotation:
                    continue

    # ---- assignments in --------------------------------------------------------------------------
    def _intake(self) -> None:
        for annotator_id, pending in self._pending.items():
            channel = self.channel(annotator_id)
            pending.extend(channel.assignments(timeout_s=0.0))
            while pending:
                try:
                    self._import(pending[0])
                except LabelStudioUnavailable as exc:
                    AGENT_ERRORS.labels(AGENT, type(exc).__name__).inc()
                    log.warning("import of %d assignments postponed: %s", len(pending), exc)
                    return  # not acknowledged: a restart re-reads them
                pending.pop(0)
            channel.acknowledge()

    def _import(self, assignment: dict[str, Any]) -> None:
        assignment_id = assignment["assignment_id"]
        if self.state.task_for(assignment_id) is not None:
            return  # the router re-sends open leases after its restarts
        if self.project_id is None:
            data_type = self.config.data_type
            self._create_project(
                labeling_config.detect_data_type(assignment.get("uri")) if data_type == "auto" else data_type
            )
        assert self.project_id is not None
        annotator_id = assignment["annotator_id"]
        self._ensure_account(annotator_id)
        self._ensure_view(annotator_id)
        found = self.api.find_task(self.project_id, assignment_id)
        if found is not None:
            task_id, outcome = int(found["id"]), "found"
        else:
            url = displayable(
                assignment.get("uri"),
                local_files_root=self.config.local_files_root,
                max_bytes=self.config.max_embedded_bytes,
            )
            task_id, outcome = (
                self.api.create_task(self.project_id, task_data(assignment, item_url=url)),
                "created",
            )
        self.state.record_task(assignment, task_id=task_id, imported_ms=int(self.clock() * 1000))
        m.TASKS_IMPORTED.labels(outcome).inc()

    def _ensure_account(self, annotator_id: str) -> None:
        email = self.config.email_of(annotator_id)
        if not self.config.create_accounts or email in self._emails:
            return
        self._refresh_users()
        if email in self._emails:
            return
        assert self.config.initial_password is not None  # the settings refuse create_accounts without it
        self.api.create_account(email=email, password=self.config.initial_password.get_secret_value())
        self._emails.add(email)
        m.ACCOUNTS_CREATED.inc()
        log.info("created the Label Studio account of %s", annotator_id)

    def _ensure_view(self, annotator_id: str) -> None:
        if annotator_id in self._views:
            return
        assert self.project_id is not None
        self.api.create_view(self.project_id, title=annotator_id, annotator_id=annotator_id)
        self._views.add(annotator_id)

    # ---- annotations out -------------------------------------------------------------------------
    def _poll(self, now: float) -> None:
        assert self.project_id is not None
        stored = self.state.get("watermark")
        watermark = parse_time(stored) if stored else EPOCH
        since = max(EPOCH, watermark - timedelta(seconds=self.config.poll_overlap_s))
        batch = _PollBatch()
        for task in self.api.tasks_updated_since(self.project_id, since):
            for annotation in task.get("annotations") or []:
                if isinstance(annotation, dict):
                    self._read_annotation(task, annotation, batch)
            updated = task.get("updated_at")
            if isinstance(updated, str) and (batch.watermark is None or updated > batch.watermark):
                batch.watermark = updated
            if len(batch.versions) >= COMMIT_EVERY:
                self._commit(batch)
                batch = _PollBatch()
        self._commit(batch)
        m.LAST_POLL.set(now)

    def _read_annotation(self, task: dict[str, Any], annotation: dict[str, Any], batch: _PollBatch) -> None:
        annotation_id = annotation.get("id")
        previous = self.state.version_of(annotation_id) if isinstance(annotation_id, int) else None
        version_text = str(annotation.get("updated_at") or annotation.get("created_at"))
        if previous is not None and previous.updated_at == version_text:
            return  # read before (the poll re-reads an overlap)
        if annotation_id in batch.seen:
            return
        try:
            _, assignment, imported_at = self._assignment_of(task)
            author = self._author(annotation.get("completed_by"))
            draft = draft_label(
                annotation,
                assignment=assignment,
                author=author,
                imported_at=imported_at,
                previous=previous,
                server=self.api.base_url,
            )
            self.channel(assignment["annotator_id"]).submit(
                assignment,
                value=draft.value,
                status=draft.status,
                started_at=draft.started_at,
                submitted_at=draft.submitted_at,
                label_id=draft.label_id,
            )
        except LabelStudioUnavailable:
            raise  # Label Studio itself failed: the whole poll is retried next cycle
        except (RejectedAnnotation, InvalidLabel) as exc:
            self._reject(task, annotation, exc, batch)
            return
        except Exception as exc:  # one strange annotation must not stop every poll
            log.exception("annotation %s of task %s could not be read", annotation_id, task.get("id"))
            self._reject(task, annotation, exc, batch)
            return
        self.presence.observe(assignment["annotator_id"], draft.submitted_at.timestamp())
        batch.seen.add(annotation_id)
        batch.versions.append(replace(draft.version, label_id=draft.label_id))
        batch.answered.append(assignment["assignment_id"])
        batch.annotators.add(assignment["annotator_id"])
        batch.submitted.append(draft.submitted_at.timestamp())
        outcome = "edit" if draft.edit else ("skip" if draft.status == "SKIPPED" else "label")
        m.ANNOTATIONS_READ.labels(outcome).inc()

    def _assignment_of(self, task: dict[str, Any]) -> tuple[TaskRecord | None, dict[str, Any], datetime]:
        record = self.state.task_by_id(int(task["id"])) if isinstance(task.get("id"), int) else None
        if record is not None:
            # Label Studio's own creation time: the same clock as the annotation's times.
            try:
                imported_at = parse_time(task.get("created_at"))
            except RejectedAnnotation:
                imported_at = datetime.fromtimestamp(record.imported_ms / 1000, tz=UTC)
            return record, record.assignment(), imported_at
        # Not in the map (the state file was lost, or the task came from elsewhere): the task data still
        # names its assignment; the classes are the task's.
        raw = task.get("data")
        data: dict[str, Any] = raw if isinstance(raw, dict) else {}
        fields = [data.get(k) for k in ("assignment_id", "item_id", "annotator")]
        if not all(isinstance(f, str) and f for f in fields):
            raise UnknownTask(f"task {str(task.get('id'))[:20]} carries no assignment imported by the bridge")
        assignment_id, item_id, annotator_id = fields
        assignment = {
            "assignment_id": assignment_id,
            "item_id": item_id,
            "annotator_id": annotator_id,
            "classes": self.task_classes,
        }
        return None, assignment, parse_time(task.get("created_at") or EPOCH)

    def _author(self, completed_by: Any) -> str | None:
        if isinstance(completed_by, dict):  # some Label Studio versions expand the user
            email = str(completed_by.get("email") or "").lower()
        elif isinstance(completed_by, int) and not isinstance(completed_by, bool):
            if completed_by not in self._user_email:
                self._refresh_users()
            email = self._user_email.get(completed_by, "")
        else:
            return None
        if email in self._annotator_by_email:
            return self._annotator_by_email[email]
        suffix = "@" + self.config.email_domain.lower()
        if email.endswith(suffix) and len(email) > len(suffix):
            return email[: -len(suffix)]
        return None

    def _reject(
        self, task: dict[str, Any], annotation: dict[str, Any], error: BaseException, batch: _PollBatch
    ) -> None:
        original = json.dumps(
            {"task": task.get("id"), "data": task.get("data"), "annotation": annotation}, default=repr
        )
        value = original.encode()[:MAX_DEAD_LETTER_BYTES]
        key = str((task.get("data") or {}).get("item_id") or task.get("id"))
        self.dead_letters.send(key=key, value=value, error=error)
        batch.dead_lettered = True
        m.ANNOTATIONS_READ.labels("rejected").inc()
        log.info(
            "annotation %s of task %s rejected: %s",
            annotation.get("id"),
            task.get("id"),
            type(error).__name__,
        )
        annotation_id = annotation.get("id")
        if isinstance(annotation_id, int):
            batch.seen.add(annotation_id)
            version_text = str(annotation.get("updated_at") or annotation.get("created_at"))
            batch.versions.append(AnnotationVersion(annotation_id, version_text, 0.0, None))

    def _commit(self, batch: _PollBatch) -> None:
        """Labels and dead letters acknowledged by the broker first, then their versions recorded."""
        for annotator_id in batch.annotators:
            self.channel(annotator_id).flush()
        if batch.dead_lettered:
            self.dead_letters.flush()
        self.state.commit_poll(batch.versions, answered=batch.answered, watermark=batch.watermark)
        acknowledged = self.clock()
        for submitted in batch.submitted:
            m.ANNOTATION_LAG.observe(max(0.0, acknowledged - submitted))

    # ---- queues and presence ---------------------------------------------------------------------
    def _sweep_expired(self, now: float) -> None:
        for record in self.state.open_tasks():
            if record.lease_expires_ms <= now * 1000:
                self._remove(record, reason="lease_expired")

    def _remove(self, record: TaskRecord, *, reason: str) -> None:
        """Take an unanswered task out of its queue; an answered one stays for the poll to read."""
        try:
            task = self.api.task(record.task_id)
        except LabelStudioUnavailable:
            task = None  # gone already, or Label Studio is down: try deleting; a failure retries later
        answered = task is not None and (task.get("annotations") or task.get("total_annotations"))
        if not answered:
            try:
                self.api.delete_task(record.task_id)
            except LabelStudioUnavailable as exc:
                if task is not None:
                    raise
                log.debug("task %s already gone: %s", record.task_id, exc)
            m.TASKS_REMOVED.labels(reason).inc()
        self.state.set_state(record.assignment_id, REMOVED)

    def _announce(self, now: float) -> None:
        open_tasks = Counter(record.annotator_id for record in self.state.open_tasks())
        for announcement in self.presence.decide(now=now, open_tasks=open_tasks):
            channel = self.channel(announcement.annotator_id)
            if announcement.event == "ONLINE":
                channel.online()
            elif announcement.event == "READY":
                channel.ready(announcement.ready_for)
            else:
                channel.offline()  # the router returns their open work to the pool at once
                for record in self.state.open_tasks(announcement.annotator_id):
                    self._remove(record, reason="annotator_offline")
                log.info("%s is idle: OFFLINE, queue emptied", announcement.annotator_id)

    def _export(self) -> None:
        m.QUEUE_TASKS.set(len(self.state.open_tasks()))
        for state, count in self.presence.counts().items():
            m.ANNOTATORS.labels(state).set(count)

    def close(self) -> None:
        for channel in self.channels.values():
            try:
                channel.close()
            except Exception:  # closing the others matters more than this one's error
                log.exception("closing the channel of %s failed", channel.annotator_id)


class _PollBatch:
    """What one committed step of a poll produced."""

    def __init__(self) -> None:
        self.versions: list[AnnotationVersion] = []
        self.answered: list[str] = []
        self.annotators: set[str] = set()
        self.submitted: list[float] = []
        self.seen: set[Any] = set()
        self.watermark: str | None = None
        self.dead_lettered = False
