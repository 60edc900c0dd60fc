"""``alstream agent trainer``: retrain when a release is announced (and optionally every N labels).

A consumer-group member over the releases topic (plus the labels topic when
``retrain_every_labels`` > 0). Each announced release is trained on once: the ids already handled
and content hashes are kept in ``<state_dir>/models/<model_name>/trained_releases.json``, so a
replayed announcement (at-least-once delivery, the release agent re-announcing) or a new release with
exactly the same data does not retrain; an empty release, or one with nothing trainable, is skipped
(logged and counted). A model that fails the validation gate is refused and the release still counts
as handled; a model that cannot be announced
(:class:`~alstream.agents.trainer.exceptions.PublishFailed`, a ``RetryLater``) is trained and
announced again later by the runtime; an announcement that cannot be trained on for any other reason
(its folder missing, its files not a release) is dead-lettered with the reason, and one failing with
an exception of any other type (an unknown URI scheme) by the runtime's poison-pill rule.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alstream.agents.launch import launch
from alstream.agents.release.service import store_for
from alstream.agents.trainer import online
from alstream.agents.trainer.data import labels_so_far_inputs, release_inputs
from alstream.agents.trainer.exceptions import ForeignRelease, PublishFailed
from alstream.agents.trainer.service import models_dir, train_once
from alstream.exceptions import AlstreamError
from alstream.observability.metrics import AGENT_ERRORS
from alstream.settings import AlstreamSettings
from alstream.streams.batch_loop import Outputs
from alstream.streams.codecs import codec_for
from alstream.streams.runtime import AgentRuntime
from alstream.streams.stopping import StopFlag

log = logging.getLogger(__name__)
AGENT = "trainer"


class TrainerProcessor:
    def __init__(self, *, settings: AlstreamSettings) -> None:
        self.settings = settings
        self.releases_topic = settings.kafka.topic("releases")
        self.codec = codec_for("releases", settings)
        self.state_file = models_dir(settings) / settings.trainer.model_name / "trained_releases.json"
        self.trained: list[str] = self._load_state()
        # the dashboard's and alert's loop-vs-random gauges survive a restart
        online.restore(models_dir(settings) / settings.trainer.model_name)
        self.new_labels = 0
        self.outcomes: list[Any] = []  # for tests and logs

    def _load_state(self) -> list[str]:
        try:
            return list(json.loads(Path(self.state_file).read_text()))
        except (OSError, ValueError):
            return []

    def _remember(self, release_id: str, content_hash: str) -> None:
        self.trained += [release_id, content_hash]
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.trained[-1000:]))
        tmp.replace(self.state_file)

    def process(self, messages: list[Any], outputs: Outputs) -> None:
        for message in messages:
            if message.topic() == self.releases_topic:
                self._on_release(message, outputs)
            else:
                self.new_labels += 1
        every = self.settings.trainer.retrain_every_labels
        if every and self.new_labels >= every:
            log.info("%d new labels: retraining on the labels so far", self.new_labels)
            self._train(lambda: labels_so_far_inputs(self.settings))
            self.new_labels = 0

    def _on_release(self, message: Any, outputs: Outputs) -> None:
        try:
            announced = self.codec.decode(message.value())
        except AlstreamError as exc:
            outputs.dead_letter(message, exc)
            return
        release_id, content = announced["release_id"], announced["content_hash"]
        try:
            uri = release_uri(self.settings, release_id, announced["uri"])
        except ForeignRelease as exc:
            AGENT_ERRORS.labels(AGENT, type(exc).__name__).inc()
            log.error("refused release announcement %s: %s", str(release_id)[:100], exc)
            outputs.dead_letter(message, exc, f"ForeignRelease: {exc}")
            return
        if release_id in self.trained or content in self.trained:
            log.info("release %s already trained on (or its exact content); skipping", release_id)
            return
        if announced["item_count"] == 0:
            log.info("release %s holds no items; nothing to train on", release_id)
        else:
            try:
                inputs = release_inputs(uri, release_id)
            except AlstreamError as exc:
                # The announced release cannot be read (its folder is missing, its files are not a
                # release): retrying cannot help, so the announcement is dead-lettered with the reason
                # and handled for good.
                AGENT_ERRORS.labels(AGENT, type(exc).__name__).inc()
                outputs.dead_letter(message, exc, f"{type(exc).__name__}: {exc}")
            else:
                self._train(lambda: {**inputs, "release_id": release_id})
        self._remember(release_id, content)

    def _train(self, inputs: Any) -> None:
        """Train. An unannounced model (:class:`PublishFailed`) propagates: the runtime retries later.
        Our own errors about the data (nothing trainable) are logged, counted and skipped: the release
        is fine, it only gives the trainer nothing to learn; anything else propagates to the runtime's
        poison-pill rule."""
        try:
            self.outcomes.append(train_once(self.settings, **inputs()))
        except PublishFailed:
            raise
        except AlstreamError as exc:
            AGENT_ERRORS.labels(AGENT, type(exc).__name__).inc()
            log.error("training failed: %s", exc)

    def on_idle(self, outputs: Outputs) -> None:
        return None


def release_uri(settings: AlstreamSettings, release_id: str, announced_uri: str) -> str:
    """The store URI of ``release_id`` when the announcement names exactly it, else :class:`ForeignRelease`.

    A release id is one path segment; the URI must be the configured release store's (``release.root_uri``,
    default ``<state_dir>/releases``) for that id, so an announcement cannot send the trainer elsewhere."""
    if not release_id or "/" in release_id or "\\" in release_id or release_id in (".", ".."):
        raise ForeignRelease(f"release id {release_id[:100]!r} is not one path segment")
    expected = store_for(settings).uri_of(release_id)
    if str(announced_uri).rstrip("/") != expected:
        raise ForeignRelease(
            f"release {release_id} is announced at {str(announced_uri)[:200]!r}, not in the release store "
            f"({expected})"
        )
    return expected


def topics_for(settings: AlstreamSettings) -> list[str]:
    topics = [settings.kafka.topic("releases")]
    if settings.trainer.retrain_every_labels:
        topics.append(settings.kafka.topic("labels"))
    return topics


def setup(settings: AlstreamSettings, *, group_id: str | None = None) -> Callable[[AgentRuntime], None]:
    def build(runtime: AgentRuntime) -> None:
        runtime.consume(
            topics=topics_for(settings),
            group_id=settings.kafka.group_id(group_id or settings.trainer.group_id),
            processor=TrainerProcessor(settings=settings),
            batch_size=500,
        )

    return build


def run(settings: AlstreamSettings, *, stop: StopFlag | None = None) -> None:
    launch(settings, agent=AGENT, setup=setup, stop=stop)
