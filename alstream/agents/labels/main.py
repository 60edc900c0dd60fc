"""``alstream agent labels``: validate labels against assignments, dead-letter bad ones, measure.

Runs as a consumer-group member on the labels topic (scales out over its partitions); every instance
follows the whole assignments topic. At start it rebuilds its dedupe set from the committed part of
the labels topic, so a restart neither loses a label nor dead-letters or counts one twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from alstream.agents.labels.assignments import AssignmentIndex
from alstream.agents.labels.processor import LabelsProcessor
from alstream.agents.labels.qa import QaTracker, load_gold
from alstream.agents.launch import launch
from alstream.contracts.labels import LabelRules
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import codec_for
from alstream.streams.replay import replay_committed
from alstream.streams.runtime import AgentRuntime
from alstream.streams.stopping import StopFlag

AGENT = "labels"
log = logging.getLogger(__name__)


def setup(settings: AlstreamSettings) -> Callable[[AgentRuntime], None]:
    """The processor with its assignment index caught up and its state restored, on the labels loop.

    The label rules are built here, before the runtime waits for the cluster: a missing ``task.classes``
    fails at once, naming the setting."""
    settings.task.require_classes()  # a label's value must be a class
    rules = LabelRules.from_settings(settings)

    def build(runtime: AgentRuntime) -> None:
        config = settings.labels
        group_id = settings.kafka.group_id(config.group_id)
        labels_topic, assignments_topic = settings.kafka.topic("labels"), settings.kafka.topic("assignments")
        assignments = AssignmentIndex(
            codec=codec_for("assignments", settings),
            agent=AGENT,
            max_size=config.max_assignments,
            max_id_length=settings.ingest.max_id_length,
            clock_skew_s=settings.contracts.clock_skew_s,
        )
        runtime.remember_dead_letters([labels_topic, assignments_topic])  # one read for both
        known_bad = runtime.dead_lettered_before(assignments_topic)

        def add_assignment(message: Any) -> None:
            if (
                message.partition(),
                message.offset(),
            ) not in known_bad:  # else dead-lettered by an earlier run
                assignments.add_message(message)

        tail = runtime.follow([assignments_topic], add_assignment, what="assignments")
        processor = LabelsProcessor(
            codec=codec_for("labels", settings),
            assignments=assignments,
            validator=rules,
            qa=QaTracker(
                gold=load_gold(settings.paths.qa_gold_file),
                window=config.qa_window,
                top_n=config.qa_annotator_top_n,
                min_checks=config.qa_annotator_min_checks,
            ),
            hold_unknown_s=config.hold_unknown_s,
            max_seen=config.max_assignments,
            refresh=tail.poll,
            caught_up=tail.caught_up,
        )
        processor.dead_lettered = runtime.dead_lettered_before(labels_topic)
        restored = replay_committed(
            settings,
            group_id=group_id,
            topic=labels_topic,
            handle=processor.restore,
            agent=AGENT,
            stop=runtime.stopping,
        )
        log.info("labels: %d assignments known, %d committed labels restored", len(assignments), restored)
        runtime.consume(
            topics=[labels_topic], group_id=group_id, processor=processor, batch_size=config.batch_size
        )

    return build


def run(settings: AlstreamSettings, *, stop: StopFlag | None = None) -> None:
    """Block until SIGTERM / SIGINT (or ``stop`` is set), serving metrics on settings.metrics.port."""
    launch(settings, agent=AGENT, setup=setup, stop=stop)
