"""``alstream agent agreement``: inter-annotator agreement, disagreement spikes, model failures.

Run one instance: the window and the spike detector are global statistics over all overlapped items
(the calibration topic has one partition). It follows the whole assignments and candidates topics
and, at start, replays the committed part of the labels topic to rebuild windows, cooldowns and
dedupe sets, so a restart neither loses an observation nor emits a calibration event twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from alstream.agents.agreement.candidates import CandidateIndex
from alstream.agents.agreement.failures import FailureRecorder
from alstream.agents.agreement.overlap import OverlapTracker
from alstream.agents.agreement.processor import AgreementProcessor
from alstream.agents.agreement.spike import SpikeDetector
from alstream.agents.labels.assignments import AssignmentIndex
from alstream.agents.launch import launch
from alstream.agents.router.quotas import load_quotas
from alstream.contracts.calibration import CalibrationRules
from alstream.contracts.candidates import CandidateRules
from alstream.contracts.labels import LabelRules
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import codec_for
from alstream.streams.replay import replay_committed
from alstream.streams.runtime import AgentRuntime
from alstream.streams.stopping import StopFlag

AGENT = "agreement"
log = logging.getLogger(__name__)


def failures_path(settings: AlstreamSettings) -> Path:
    return settings.agreement.failures_file or Path(settings.paths.state_dir) / "model_failures.jsonl"


def failure_bank_path(settings: AlstreamSettings) -> Path:
    """The scorer's bank: the same file its failure_distance signal reads."""
    return settings.scorer.failure_bank_file or Path(settings.paths.state_dir) / "failure-bank.npz"


def overlap_k(settings: AlstreamSettings) -> int:
    return settings.agreement.overlap_k or load_quotas(settings.paths.quotas_file).overlap_k


def setup(settings: AlstreamSettings) -> Callable[[AgentRuntime], None]:
    """The processor with its indexes caught up and its state restored, on the labels loop.

    The rules are built here, before the runtime waits for the cluster: a missing ``task.classes``
    fails at once, naming the setting."""
    classes = settings.task.require_classes()
    label_rules = LabelRules.from_settings(settings)
    candidate_rules = CandidateRules.from_settings(settings)
    calibration_rules = CalibrationRules.from_settings(settings)

    def build(runtime: AgentRuntime) -> None:
        config = settings.agreement
        group_id = settings.kafka.group_id(config.group_id)
        assignments = AssignmentIndex(
            codec=codec_for("assignments", settings),
            agent=AGENT,
            max_size=settings.labels.max_assignments,
            max_id_length=settings.ingest.max_id_length,
            clock_skew_s=settings.contracts.clock_skew_s,
        )
        candidates = CandidateIndex(
            codec=codec_for("candidates", settings),
            agent=AGENT,
            max_size=config.max_candidates,
            rules=candidate_rules,
        )
        # Undecodable records are skipped and counted here, not dead-lettered: the labels agent
        # dead-letters assignments, the router candidates.
        assignments_reader = runtime.follow(
            [settings.kafka.topic("assignments")], lambda m: assignments.ingest([m]), what="assignments"
        )
        candidates_reader = runtime.follow(
            [settings.kafka.topic("candidates")], lambda m: candidates.ingest([m]), what="candidates"
        )

        def refresh() -> None:
            assignments_reader.poll()
            candidates_reader.poll()

        processor = AgreementProcessor(
            label_codec=codec_for("labels", settings),
            calibration_codec=codec_for("calibration", settings),
            calibration_topic=settings.kafka.topic("calibration"),
            assignments=assignments,
            candidates=candidates,
            validator=label_rules,
            tracker=OverlapTracker(overlap_k=overlap_k(settings), settle_s=config.settle_s),
            detector=SpikeDetector.from_settings(config),
            failures=FailureRecorder(
                record_path=failures_path(settings), bank_path=failure_bank_path(settings)
            ),
            classes=classes,
            window_items=config.window_items,
            pool_items=config.contested_pool_items,
            calibration_min_items=config.calibration_min_items,
            calibration_max_items=config.calibration_max_items,
            hold_unknown_s=settings.labels.hold_unknown_s,
            max_seen=settings.labels.max_assignments,
            refresh=refresh,
            calibration_rules=calibration_rules,
        )
        restored = replay_committed(
            settings,
            group_id=group_id,
            topic=settings.kafka.topic("labels"),
            handle=processor.restore,
            agent=AGENT,
            stop=runtime.stopping,
        )
        log.info("agreement: %d assignments known, %d committed labels restored", len(assignments), restored)
        runtime.consume(
            topics=[settings.kafka.topic("labels")],
            group_id=group_id,
            processor=processor,
            batch_size=config.batch_size,
        )

    return build


def run(settings: AlstreamSettings, *, stop: StopFlag | None = None) -> None:
    """Block until SIGTERM / SIGINT (or ``stop`` is set), serving metrics on settings.metrics.port."""
    launch(settings, agent=AGENT, setup=setup, stop=stop)
