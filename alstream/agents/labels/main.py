"""``alstream agent labels``: validate labels against assignments, dead-letter bad ones, measure.

Runs as a consumer-group member on the labels topic (scales out over its partitions); every instance
follows the whole assignments topic. At start it rebuilds its dedupe set from the committed part of
the labels topic, so a restart neither loses a label nor dead-letters or counts one twice.
"""

from __future__ import annotations

import logging

from alstream.agents.labels.assignments import AssignmentIndex
from alstream.agents.labels.processor import LabelsProcessor
from alstream.agents.labels.qa import QaTracker, load_gold
from alstream.agents.labels.topic_state import TopicTail, dead_lettered_offsets, replay_committed
from alstream.contracts.labels import LabelRules
from alstream.observability.metrics import serve_metrics
from alstream.settings import AlstreamSettings
from alstream.streams.batch_loop import BatchAgentRunner, StopFlag
from alstream.streams.codecs import codec_for

AGENT = "labels"
log = logging.getLogger(__name__)


def build(settings: AlstreamSettings) -> tuple[LabelsProcessor, TopicTail]:
    """The processor with its assignment index caught up and its state restored."""
    config = settings.labels
    settings.task.require_classes()  # fails fast, naming the setting: a label's value must be a class
    assignments = AssignmentIndex(
        codec=codec_for("assignments", settings),
        agent=AGENT,
        max_size=config.max_assignments,
        max_id_length=settings.ingest.max_id_length,
    )
    tail = TopicTail(settings=settings, topics=[settings.kafka.topic("assignments")])
    tail.catch_up(assignments.ingest)
    processor = LabelsProcessor(
        codec=codec_for("labels", settings),
        assignments=assignments,
        validator=LabelRules.from_settings(settings),
        qa=QaTracker(
            gold=load_gold(settings.paths.qa_gold_file),
            window=config.qa_window,
            top_n=config.qa_annotator_top_n,
            min_checks=config.qa_annotator_min_checks,
        ),
        hold_unknown_s=config.hold_unknown_s,
        max_seen=config.max_assignments,
        refresh=lambda: assignments.ingest(tail.poll()),
        caught_up=tail.caught_up,
    )
    processor.dead_lettered = dead_lettered_offsets(
        settings, agent=AGENT, source_topic=settings.kafka.topic("labels")
    )
    restored = replay_committed(
        settings, group_id=config.group_id, topic=settings.kafka.topic("labels"), handle=processor.restore
    )
    log.info("labels: %d assignments known, %d committed labels restored", len(assignments), restored)
    return processor, tail


def run(settings: AlstreamSettings, *, stop: StopFlag | None = None) -> None:
    """Block until SIGTERM / SIGINT (or ``stop`` is set), serving metrics on settings.metrics.port."""
    if stop is None:
        stop = StopFlag()
        stop.install_signal_handlers()
    serve_metrics(settings.metrics.port, settings.metrics.host, agent=AGENT)
    processor, tail = build(settings)
    try:
        BatchAgentRunner(
            agent=AGENT,
            settings=settings,
            topics=[settings.kafka.topic("labels")],
            group_id=settings.labels.group_id,
            processor=processor,
            batch_size=settings.labels.batch_size,
            poll_timeout_s=0.5,
        ).run(stop)
    finally:
        tail.close()
