"""``alstream agent scorer``: score every item as a consumer-group member until SIGTERM / SIGINT.

Wiring only: which policy, which model, which failure bank and QA gold set; the logic is in
:mod:`alstream.agents.scorer.processor`, the loop (at-least-once offsets) in the streams package.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from alstream.agents.scorer.drift import DriftMonitor
from alstream.agents.scorer.exceptions import ModelSwapError
from alstream.agents.scorer.models import ActiveModel, ModelWatcher, load_announced, record_swap
from alstream.agents.scorer.native_tuning import tune_native_libraries
from alstream.agents.scorer.processor import ScorerProcessor
from alstream.agents.scorer.qa_gold import QaGoldSet
from alstream.agents.selection.failure_bank import FailureBank
from alstream.agents.selection.history import active_path
from alstream.agents.selection.policy import BASELINE_POLICY, Policy, load_policy
from alstream.models.artifacts import ArtifactError, load_bundle, sha256_of
from alstream.observability.metrics import AGENT_ERRORS, serve_metrics
from alstream.settings import AlstreamSettings
from alstream.streams.batch_loop import BatchAgentRunner, StopFlag

log = logging.getLogger(__name__)
AGENT = "scorer"


def resolve_policy(settings: AlstreamSettings) -> Policy:
    """``paths.policy_file`` if set, else the policy last applied with ``alstream policy apply``,
    else the baseline."""
    if settings.paths.policy_file is not None:
        return load_policy(settings.paths.policy_file)
    applied = active_path(settings.paths.state_dir)
    if applied.exists():
        return load_policy(applied)
    log.warning(
        "no selection policy configured (paths.policy_file) or applied: using the random baseline %s",
        BASELINE_POLICY.version,
    )
    return BASELINE_POLICY


def failure_bank_for(settings: AlstreamSettings, policy: Policy) -> FailureBank | None:
    if not policy.uses_failure_bank:
        return None
    spec = next(spec for spec in policy.signal_specs if spec.name == "failure_distance")
    path = (
        spec.params.get("bank_file")
        or settings.scorer.failure_bank_file
        or (Path(settings.paths.state_dir) / "failure-bank.npz")
    )
    bank = FailureBank.load(path)
    log.info("failure bank %s: %d known failures", path, len(bank))
    return bank


def bootstrap_model(settings: AlstreamSettings) -> ActiveModel | None:
    path = settings.scorer.bootstrap_model
    if path is None:
        return None
    try:
        bundle = load_bundle(path, expected_sha256=settings.scorer.bootstrap_model_sha256)
    except ArtifactError as exc:
        raise ModelSwapError(f"scorer.bootstrap_model: {exc}") from exc
    version = bundle.metadata.get("model_version") or f"bootstrap-{sha256_of(path)[:12]}"
    return ActiveModel.from_bundle(
        version=version,
        bundle=bundle,
        task_classes=list(settings.task.classes),
        embedding_dim=settings.ingest.embedding_dim,
    )


class ModelFollower:
    """Turns announcements on the models topic into loaded models; refuses bad ones, keeps the current."""

    def __init__(self, *, settings: AlstreamSettings, watcher: ModelWatcher) -> None:
        self.settings = settings
        self.watcher = watcher
        self.current_version: str | None = None

    def load(self, record: dict[str, Any] | None) -> ActiveModel | None:
        if record is None or record.get("model_version") == self.current_version:
            return None
        try:
            model = load_announced(
                record,
                task_classes=list(self.settings.task.classes),
                embedding_dim=self.settings.ingest.embedding_dim,
            )
        except ModelSwapError as exc:
            AGENT_ERRORS.labels(AGENT, "ModelSwapError").inc()
            log.error("refused announced model: %s (keeping %s)", exc, self.current_version)
            return None
        self.current_version = model.version
        record_swap(model, record, self.settings.scorer.model_name)
        return model

    def __call__(self) -> ActiveModel | None:
        return self.load(self.watcher.poll())


def build_processor(settings: AlstreamSettings, *, follower: ModelFollower | None) -> ScorerProcessor:
    policy = resolve_policy(settings)
    model = None
    if follower is not None:
        model = follower.load(follower.watcher.catch_up(deadline_s=settings.scorer.model_catch_up_s))
    if model is None:
        model = bootstrap_model(settings)
        if model is not None and follower is not None:
            follower.current_version = model.version
    log.info(
        "policy %s (signal %s, goal: %s); model %s",
        policy.version,
        policy.signal_name,
        policy.goal,
        model.version if model else "none (items' own probabilities, else random)",
    )
    state_dir = Path(settings.paths.state_dir)
    drift = DriftMonitor(
        period_s=policy.drift_period_days * 86_400,
        threshold=policy.drift_psi_threshold,
        min_samples=policy.drift_min_samples,
        state_file=settings.scorer.drift_state_file or state_dir / "scorer-drift.json",
    )
    return ScorerProcessor(
        settings=settings,
        policy=policy,
        model=model,
        failure_bank=failure_bank_for(settings, policy),
        qa_gold=QaGoldSet(path=policy.qa_gold_file or settings.paths.qa_gold_file),
        drift=drift,
        model_updates=follower,
    )


def run(settings: AlstreamSettings, *, stop: StopFlag | None = None) -> None:
    """Block until SIGTERM / SIGINT (or ``stop``), scoring items; return cleanly."""
    if stop is None:  # first thing: a SIGTERM during the (slow) start must still mean a clean stop
        stop = StopFlag()
        stop.install_signal_handlers()
    settings.kafka.require_bootstrap()
    tune_native_libraries(threads=settings.scorer.native_threads)
    serve_metrics(settings.metrics.port, settings.metrics.host)
    watcher = ModelWatcher(
        settings=settings, model_name=settings.scorer.model_name, group_suffix=str(os.getpid())
    )
    follower = ModelFollower(settings=settings, watcher=watcher)
    processor = build_processor(settings, follower=follower)
    holder: dict[str, BatchAgentRunner] = {}
    runner = BatchAgentRunner(
        agent=AGENT,
        settings=settings,
        topics=[settings.kafka.topic("items")],
        group_id=settings.scorer.group_id,
        processor=processor,
        batch_size=settings.scorer.batch_size,
        poll_timeout_s=settings.scorer.poll_timeout_s,
        on_revoke=lambda partitions: processor.on_revoke(partitions, holder["runner"].outputs),
    )
    holder["runner"] = runner
    try:
        runner.run(stop)
    finally:
        processor.close(runner.outputs)
        runner.producer.flush(30)
        watcher.close()
        log.info("scorer stopped")
