"""``alstream agent scorer``: score every item as a consumer-group member until SIGTERM / SIGINT.

Wiring only: which policy, which model, which failure bank and QA gold set; the logic is in
:mod:`alstream.agents.scorer.processor`, the loop (at-least-once offsets, the poison-pill rule) in the
agent runtime (:mod:`alstream.streams.runtime`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alstream.agents.launch import launch
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
from alstream.models.store import ModelStore
from alstream.observability.metrics import AGENT_ERRORS
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import codec_for
from alstream.streams.exceptions import BrokerError
from alstream.streams.runtime import AgentRuntime
from alstream.streams.stopping import StopFlag

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
    if not settings.scorer.bootstrap_model_sha256:
        raise ModelSwapError(
            "scorer.bootstrap_model needs its SHA-256: set ALSTREAM_SCORER__BOOTSTRAP_MODEL_SHA256 "
            "(nothing is loaded unverified)"
        )
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
    """Turns announcements on the models topic into loaded models; refuses bad ones, keeps the current.

    A model that cannot be loaded, for any reason, is refused: counted, logged, and its announcement
    handed to ``reject`` (the runtime dead-letters it), so a broken announcement never stops the scorer,
    however often it is read again.
    """

    def __init__(
        self,
        *,
        settings: AlstreamSettings,
        watcher: ModelWatcher,
        reject: Callable[[Any, BaseException], None] | None = None,
    ) -> None:
        self.settings = settings
        self.watcher = watcher
        self.reject = reject
        self.store = ModelStore.of(settings)
        self.current_version: str | None = None

    def load(self, record: dict[str, Any] | None) -> ActiveModel | None:
        if record is None or record.get("model_version") == self.current_version:
            return None
        try:
            model = load_announced(
                record,
                store=self.store,
                task_classes=list(self.settings.task.classes),
                embedding_dim=self.settings.ingest.embedding_dim,
            )
        except Exception as exc:  # noqa: BLE001 - any broken announcement is refused, never fatal
            AGENT_ERRORS.labels(AGENT, type(exc).__name__).inc()
            log.error(
                "refused announced model %s: %s: %s (keeping %s)",
                record.get("model_version"),
                type(exc).__name__,
                exc,
                self.current_version,
            )
            message = getattr(self.watcher, "last_message", None)
            if self.reject is not None and message is not None:
                self.reject(message, exc)
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
        model = follower.load(follower.watcher.poll())
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


def setup(settings: AlstreamSettings) -> Callable[[AgentRuntime], None]:
    """The scorer's wiring for :func:`run_agent`: model announcements, the processor, the items loop."""

    def build(runtime: AgentRuntime) -> None:
        tune_native_libraries(threads=settings.scorer.native_threads)
        watcher = ModelWatcher(codec=codec_for("models", settings), model_name=settings.scorer.model_name)
        announcements = runtime.follow(
            [settings.kafka.topic("models")], watcher.observe, what="model announcements", catch_up=False
        )
        try:  # the latest announcement at start; a models topic that cannot be read is not fatal
            announcements.catch_up(patience_s=settings.scorer.model_catch_up_s)
        except BrokerError as exc:
            log.warning(
                "models topic not read to its end at start (%s): starting with the model at hand", exc
            )
        follower = ModelFollower(
            settings=settings,
            watcher=watcher,
            reject=lambda message, exc: runtime.reject(message, exc, what="model announcement"),
        )
        processor = build_processor(settings, follower=follower)
        runner = runtime.consume(
            topics=[settings.kafka.topic("items")],
            group_id=settings.kafka.group_id(settings.scorer.group_id),
            processor=processor,
            batch_size=settings.scorer.batch_size,
            poll_timeout_s=settings.scorer.poll_timeout_s,
            on_revoke=lambda partitions: processor.on_revoke(partitions, runtime.runner.outputs),  # type: ignore[union-attr]
        )

        def close() -> None:  # the open windows' candidates, after the loop stopped
            processor.close(runner.outputs)
            runner.producer.flush(30)

        runtime.on_shutdown(close)

    return build


def run(settings: AlstreamSettings, *, stop: StopFlag | None = None) -> None:
    """Block until SIGTERM / SIGINT (or ``stop``), scoring items; return cleanly."""
    launch(settings, agent=AGENT, setup=setup, stop=stop)
