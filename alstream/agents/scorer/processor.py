"""The scorer's batch logic: decode, validate, flag slice / QA gold, score vectorised, emit scores
and candidates.

Runs inside :class:`alstream.streams.batch_loop.BatchAgentRunner`, which stores offsets only after
everything produced here was delivered (at-least-once). Scores are deterministic functions of the
item and the (policy version, model version), so a replayed batch re-emits byte-identical scores
apart from ``scored_at``: the scores topic stays idempotent by item_id.

Which probabilities score an item, in order: the production model's, when the item carries them
(model version ``production``); else the active model bundle's committee mean; else none. When the
policy's signal cannot run on what is available, the item is scored by ``random`` and its score says
so (``signal = "random"``, ``model_version = "none"``), with a log line and a gauge. While the
policy's cold-start rule holds (the model knows too few labels of some class), items are ranked by
``random`` too, stamped with the model's version.
"""

from __future__ import annotations

import logging
import operator
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from alstream.agents.scorer.drift import DriftMonitor
from alstream.agents.scorer.item_columns import BatchItemDecoder, ItemColumns
from alstream.agents.scorer.item_decoding import FastItemDecoder
from alstream.agents.scorer.metrics import (
    BATCH_SECONDS,
    CANDIDATES,
    COLD_START_ACTIVE,
    DOMAIN_SHIFT,
    DRIFT_PSI,
    FALLBACK_ACTIVE,
    ITEMS_SCORED,
    RANDOM_SLICE_SHARE,
    SCORES,
)
from alstream.agents.scorer.models import ActiveModel
from alstream.agents.scorer.qa_gold import QaGoldSet
from alstream.agents.scorer.score_encoding import ScoreEncoder
from alstream.agents.scorer.window import CandidateSelector, Selected
from alstream.agents.selection.failure_bank import FailureBank
from alstream.agents.selection.fusion import RankFusion
from alstream.agents.selection.policy import Policy
from alstream.agents.selection.random_slice import slice_positions
from alstream.agents.selection.signals import Hardness, RandomSignal, Signal
from alstream.contracts.exceptions import InvalidItem
from alstream.contracts.items import HARDNESS, ItemRules, Refusals
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import SingleObjectCodec, codec_for

log = logging.getLogger(__name__)

_VALUE = operator.methodcaller("value")
_PARTITION = operator.methodcaller("partition")
PRODUCTION = "production"
NO_MODEL = "none"


@dataclass
class _ValidBatch:
    """The items of one batch that passed every check, row ``i`` of each field being item ``i``."""

    messages: list[Any]
    columns: ItemColumns
    embeddings: np.ndarray  # (n, dim) float32
    production: np.ndarray | None  # (n, k) production-model probabilities, NaN rows where absent
    has_production: np.ndarray  # (n,) bool


class ScorerProcessor:
    """One scorer's state: policy, model, failure bank, QA gold set, drift monitor, candidate windows."""

    def __init__(
        self,
        *,
        settings: AlstreamSettings,
        policy: Policy,
        model: ActiveModel | None = None,
        failure_bank: FailureBank | None = None,
        qa_gold: QaGoldSet | None = None,
        drift: DriftMonitor | None = None,
        model_updates: Callable[[], ActiveModel | None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.model = model
        self.clock = clock
        self.model_updates = model_updates
        self.task_classes = list(settings.task.classes)
        self.embedding_dim = settings.ingest.embedding_dim
        self.item_rules = ItemRules.from_settings(settings)
        self.scores_topic = settings.kafka.topic("scores")
        self.candidates_topic = settings.kafka.topic("candidates")
        if settings.codec.wire_format == "single-object":
            row_decoder: Any = FastItemDecoder(codec=SingleObjectCodec("items", raw_timestamps=True))
        else:
            row_decoder = codec_for("items", settings)
        self.items_decoder = BatchItemDecoder(row_decoder=row_decoder)
        self.score_encoder = ScoreEncoder(codec=codec_for("scores", settings))
        if not self.score_encoder.self_check():
            log.warning(
                "fast score encoder disagrees with the Avro codec: encoding scores with the generic codec"
            )
        self.candidates_codec = codec_for("candidates", settings)
        self.failure_bank = failure_bank
        extra: dict[str, Any] = (
            {"bank": failure_bank} if policy.uses_failure_bank and failure_bank is not None else {}
        )
        self.signal: Signal = policy.build_signal(**extra)
        self.signal_label = policy.signal_name  # e.g. "margin", or "fusion:margin+kl_disagreement"
        self.fallback = RandomSignal()
        self._cold_start = False
        self.qa_gold = qa_gold or QaGoldSet(path=policy.qa_gold_file or settings.paths.qa_gold_file)
        self.drift = drift or DriftMonitor(
            period_s=policy.drift_period_days * 86_400,
            threshold=policy.drift_psi_threshold,
            min_samples=policy.drift_min_samples,
        )
        self.selector = CandidateSelector(policy=policy)
        self._recent: deque[tuple[int, int]] = deque(maxlen=50)
        self._fallback_logged = False
        self._last_reload = clock()
        self.reload_interval_s = settings.scorer.reload_interval_s
        if model is not None:
            self._fit_fusion_reference()

    # ----------------------------------------------------------------- the BatchProcessor protocol

    def process(self, messages: list[Any], outputs: Any) -> None:
        started = time.perf_counter()
        self._housekeeping()
        batch = self._validate(messages, outputs)
        if batch is not None:
            self._score(batch, outputs)
        BATCH_SECONDS.observe(time.perf_counter() - started)

    def on_idle(self, outputs: Any) -> None:
        self._housekeeping()
        self._emit(self.selector.due(self.clock()), outputs)

    def on_revoke(self, partitions: list[Any], outputs: Any) -> None:
        """Emit the revoked partitions' open windows now: their next owner starts fresh windows."""
        self._emit(self.selector.flush([tp.partition for tp in partitions]), outputs)

    def close(self, outputs: Any) -> None:
        self._emit(self.selector.flush(), outputs)
        self.drift.save()

    # ----------------------------------------------------------------- model and file reloads

    def swap_model(self, model: ActiveModel) -> None:
        """Use ``model`` from the next batch on (called between batches)."""
        if len(model.bundle.estimators) < 2 and self.signal.needs == "committee":
            log.warning(
                "model %s has one estimator: the %s signal needs two to disagree",
                model.version,
                self.signal_label,
            )
        previous = self.model.version if self.model else None
        self.model = model
        self._fit_fusion_reference()
        log.info("scoring with model %s (was %s)", model.version, previous)

    def _fit_fusion_reference(self) -> None:
        """A fused policy ranks against the model's reference sample, scored once per model version."""
        if not isinstance(self.signal, RankFusion):
            return
        reference = self.model.bundle.reference_embeddings if self.model is not None else None
        if reference is None or len(reference) == 0 or reference.shape[1] != self.embedding_dim:
            self.signal.clear_reference()
            log.warning(
                "model %s carries no reference sample: the fused signal ranks within each batch",
                self.model.version if self.model else "none",
            )
            return
        rows = np.asarray(reference, dtype=np.float32)
        committee = self.model.committee(rows)  # type: ignore[union-attr]
        self.signal.fit_reference(
            probabilities=np.mean(committee, axis=0), committee=committee, embeddings=rows, item_ids=None
        )

    def _in_cold_start(self) -> bool:
        """The policy's cold-start rule, on the labels per class the active model was trained on."""
        model = self.model
        cold = model is not None and self.policy.cold_start.applies(
            model.bundle.class_counts, self.task_classes or model.classes
        )
        if cold != self._cold_start:
            self._cold_start = cold
            if cold:
                log.info(
                    "cold start: model %s has fewer than %d labels of some class; ranking at random",
                    model.version,  # type: ignore[union-attr]
                    self.policy.cold_start.labels_per_class,
                )
            else:
                log.info("cold start over: ranking by %s", self.signal_label)
        COLD_START_ACTIVE.set(1 if cold else 0)
        return cold

    def _housekeeping(self) -> None:
        if self.model_updates is not None:
            fresh = self.model_updates()
            if fresh is not None:
                self.swap_model(fresh)
        now = self.clock()
        if now - self._last_reload >= self.reload_interval_s:
            self._last_reload = now
            self.qa_gold.reload_if_changed()
            self.drift.save()  # a SIGKILL loses at most one reload interval of drift samples
            if self.failure_bank is not None and self.failure_bank.reload_if_changed():
                log.info("failure bank reloaded: %d failures", len(self.failure_bank))
                self._fit_fusion_reference()

    # ----------------------------------------------------------------- decode and validate

    def _validate(self, messages: list[Any], outputs: Any) -> _ValidBatch | None:
        """Decode the batch and apply the item contract to every row once, vectorised; refused rows go to
        dead letters in one pass.

        The rules and their order are :mod:`alstream.contracts.items`', the ones the ingestion SDK
        applies before sending, so an item a raw producer sent is refused here for the same reason (the
        dead letter's ``alstream.error.class``) the SDK would have given. Bytes that are no item at all
        are refused with the codec's error class; then the scorer's own rule: its policy's unit of work.
        """
        columns = self.items_decoder.decode_batch(list(map(_VALUE, messages)))
        n = len(messages)
        rules = self.item_rules
        found = Refusals()
        for i, exc in sorted(columns.errors.items()):
            found[i] = InvalidItem(str(exc), reason=type(exc).__name__)
        rules.check_ids(columns.item_ids, found, byte_lengths=columns.id_bytes)
        rules.check_source_lengths(columns.source_bytes, found)
        rules.check_units(columns.units, columns.parent_ids, found)

        # Rows of another size (refused here) read as zeros, so the matrix keeps one row per item.
        emb_bytes = 4 * self.embedding_dim
        sizes = np.fromiter(map(len, columns.embeddings), dtype=np.int64, count=n)
        right_size = rules.check_packed_embeddings(sizes, found)
        parts = columns.embeddings
        if not right_size.all():
            parts = [e if len(e) == emb_bytes else bytes(emb_bytes) for e in parts]
        embeddings = np.frombuffer(b"".join(parts), dtype="<f4").reshape(n, self.embedding_dim)
        # A NaN / infinite vector would make every model raise: refusing it keeps it from becoming a
        # poison pill that crash-loops the scorer on every replay.
        rules.check_embedding_values(embeddings, found)

        has_prod: np.ndarray = np.zeros(n, dtype=bool)
        prod = None
        if columns.probabilities.count(None) != n:  # embedding-only producers skip all of this
            prod, has_prod = self._production_probabilities(columns.probabilities, found)

        if columns.hardness.count(None) != n:
            for i, summary in enumerate(columns.hardness):
                problem = None if summary is None else rules.packed_hardness_problem(summary)
                if problem is not None:
                    found.add(i, HARDNESS, problem)
        rules.check_event_times(columns.event_times, found, now_ms=int(self.clock() * 1000))
        rules.check_policy_units(columns.units, self.policy.unit_of_work, found)

        if found:
            self._refuse(messages, found, outputs)
            keep = [i for i in range(n) if i not in found]
            if not keep:
                return None
            rows = np.asarray(keep)
            messages, columns, embeddings = [messages[i] for i in keep], columns.take(keep), embeddings[rows]
            has_prod = has_prod[rows]
            prod = prod[rows] if prod is not None else None
        return _ValidBatch(
            messages=messages,
            columns=columns,
            embeddings=embeddings,
            production=prod,
            has_production=has_prod,
        )

    @staticmethod
    def _refuse(messages: list[Any], found: Refusals, outputs: Any) -> None:
        for i, violation in sorted(found.items()):
            outputs.dead_letter(messages[i], violation.reason, str(violation))

    def _production_probabilities(
        self, probs_list: list[bytes | None], found: Refusals
    ) -> tuple[np.ndarray, np.ndarray]:
        """The production model's probabilities as an (n, k) matrix (NaN rows where absent) and the mask
        of rows that carry them; rows that break the contract's probability rules are added to ``found``.

        Their width is one per task class; without configured classes, one per class of the serving
        model; without either, the width of the batch's first item with probabilities."""
        expected = len(self.task_classes) or (len(self.model.classes) if self.model else 0)
        rows, width = self.item_rules.check_packed_probabilities(probs_list, found, expected=expected or None)
        n = len(probs_list)
        width = max(width, 1)
        prod = np.full((n, width), np.nan)
        has_prod = np.zeros(n, dtype=bool)
        if rows:
            has_prod[rows] = True
            values = b"".join(probs_list[i] for i in rows)  # type: ignore[misc]
            prod[rows] = np.frombuffer(values, dtype="<f4").reshape(len(rows), width)
            self.item_rules.check_probability_values(prod, has_prod, found)
        return prod, has_prod

    # ----------------------------------------------------------------- scoring

    def _score(self, batch: _ValidBatch, outputs: Any) -> None:
        messages, columns, embeddings = batch.messages, batch.columns, batch.embeddings
        prod, has_prod = batch.production, batch.has_production
        n = len(messages)
        item_ids = columns.item_ids

        model = self.model
        cold = self._in_cold_start()
        signal = self.fallback if cold else self.signal
        signal_label = self.fallback.name if cold else self.signal_label
        needs = signal.needs
        committee = None
        if model is not None and (needs == "committee" or not has_prod.all()):
            committee = model.committee(embeddings)
        committee_mean = np.mean(committee, axis=0) if committee else None

        # per-row probabilities (for ranking and for predicted_class / confidence) and model version
        probabilities: np.ndarray | None = None
        version: np.ndarray = np.full(n, NO_MODEL, dtype=object)
        classes: list[str] = self.task_classes or (model.classes if model else [])
        if committee_mean is not None:
            probabilities = committee_mean  # a fresh array: rows with production probabilities overwrite it
            version[:] = model.version  # type: ignore[union-attr]
        elif prod is not None:
            probabilities = np.full(prod.shape, np.nan)
        if prod is not None and probabilities is not None and prod.shape[1] == probabilities.shape[1]:
            probabilities[has_prod] = prod[has_prod]
            version[has_prod] = PRODUCTION
        has_probs = version != NO_MODEL

        # which rows the policy's signal can score
        if needs == "probabilities":
            can = has_probs
        elif needs == "committee":
            can = np.full(n, committee is not None)
            if committee is not None:
                version[:] = model.version  # type: ignore[union-attr]
        elif needs == "hardness":
            assert isinstance(signal, Hardness)
            hardness = np.array([signal.summarise(h, self.policy.unit_of_work) for h in columns.hardness])
            can = ~np.isnan(hardness)
        else:  # embeddings, ids
            can = np.ones(n, dtype=bool)

        scores: np.ndarray = np.zeros(n, dtype=np.float64)
        if can.any():
            whole = bool(can.all())  # the common case: views of the whole batch, no row copies
            sel: Any = slice(None) if whole else np.flatnonzero(can)
            kwargs: dict[str, Any] = {
                "probabilities": probabilities[sel] if probabilities is not None else None,
                "committee": [m[sel] for m in committee] if committee else None,
                "embeddings": embeddings[sel],
                "item_ids": item_ids if whole else [item_ids[i] for i in sel],
            }
            if needs == "hardness":
                kwargs["hardness"] = hardness[sel]
            scores[sel] = signal.score(**kwargs)
        if not can.all():
            sel = np.flatnonzero(~can)
            scores[sel] = self.fallback.score(
                probabilities=None,
                committee=None,
                embeddings=embeddings[sel],
                item_ids=[item_ids[i] for i in sel],
            )
            version[sel] = NO_MODEL
            self._note_fallback(len(sel))
        else:
            FALLBACK_ACTIVE.set(0)

        # An item its signal scores NaN or infinite (extreme values in a valid embedding) is refused
        # here: a candidate must carry a finite score (the candidate contract), and so must a score.
        refused = Refusals()
        finite = self.item_rules.check_scores(scores, refused, signal=self.signal.name)
        if refused:
            self._refuse(messages, refused, outputs)
            keep = np.flatnonzero(finite)
            if not keep.size:
                return
            n = int(keep.size)
            messages, columns, embeddings = (
                [messages[i] for i in keep],
                columns.take(keep.tolist()),
                embeddings[keep],
            )
            item_ids = columns.item_ids
            scores, can, version, has_probs = scores[keep], can[keep], version[keep], has_probs[keep]
            probabilities = probabilities[keep] if probabilities is not None else None

        # predicted class and confidence where probabilities exist
        confidence = np.full(n, np.nan, dtype=np.float32)
        predicted: list[str | None] = [None] * n
        if probabilities is not None:
            rows_p = np.flatnonzero(has_probs)
            top = np.argmax(probabilities[rows_p], axis=1)
            confidence[rows_p] = probabilities[rows_p, top]
            if classes and len(classes) == probabilities.shape[1]:
                names = np.array(classes, dtype=object)[top].tolist()
                if len(rows_p) == n:
                    predicted = names
                else:
                    for i, name in zip(rows_p.tolist(), names, strict=True):
                        predicted[i] = name

        positions = slice_positions(item_ids, salt=self.policy.random_slice_salt)
        in_slice = positions < self.policy.random_slice_fraction
        is_gold = self.qa_gold.mask(item_ids)

        now = self.clock()
        self._produce_scores(
            outputs,
            item_ids,
            scores,
            can,
            version,
            in_slice,
            is_gold,
            predicted,
            confidence,
            int(now * 1000),
            signal_label,
        )
        # cold-start scores are random draws: kept out of the drift check, which compares score shapes
        self._observe(scores, can & (not cold), in_slice, predicted, signal_label)

        shift = None
        if self.drift.shifted and self.policy.shift_review_share > 0:
            shift_pos = slice_positions(item_ids, salt=self.policy.random_slice_salt + "/shift-review")
            shift = (confidence >= self.policy.shift_review_min_confidence) & (
                shift_pos < self.policy.shift_review_share
            )

        signal_names = np.where(can, signal_label, self.fallback.name)
        rank = np.where(can, scores, scores - 1e12)  # fallback-scored items only fill what is left
        partitions = np.fromiter(map(_PARTITION, messages), dtype=np.int64, count=n)

        def build(i: int) -> dict[str, Any]:
            skills = columns.metadata[i].get("skills", "")
            return {
                "item_id": item_ids[i],
                "score": float(scores[i]),
                "signal": str(signal_names[i]),
                "policy_version": self.policy.version,
                "model_version": str(version[i]),
                "unit_of_work": columns.units[i],
                "predicted_class": predicted[i],
                "confidence": None if np.isnan(confidence[i]) else float(confidence[i]),
                "embedding": columns.embeddings[i],
                "skills": [s.strip() for s in skills.split(",") if s.strip()],
                "uri": columns.uris[i],
            }

        closed: list[Selected] = []
        for partition in np.unique(partitions).tolist():
            idx = np.flatnonzero(partitions == partition)
            sub_ids = [item_ids[i] for i in idx]

            def build_row(j: int, idx: np.ndarray = idx) -> dict[str, Any]:  # this partition's rows
                return build(int(idx[j]))

            closed += self.selector.add(
                partition,
                now=now,
                item_ids=sub_ids,
                scores=scores[idx],
                in_slice=in_slice[idx],
                is_gold=is_gold[idx],
                positions=positions[idx],
                shift_review=shift[idx] if shift is not None else None,
                build_row=build_row,
                rank=rank[idx],
            )
        closed += self.selector.due(now)
        self._emit(closed, outputs)

    def _produce_scores(
        self,
        outputs: Any,
        item_ids: list[str],
        scores: np.ndarray,
        can: np.ndarray,
        version: np.ndarray,
        in_slice: np.ndarray,
        is_gold: np.ndarray,
        predicted: list[str | None],
        confidence: np.ndarray,
        now_ms: int,
        signal_label: str,
    ) -> None:
        # One encoder call per (signal, model version) group; None stands for the whole batch
        # (the common case).
        signal_of = (self.fallback.name, signal_label)  # indexed by "the policy's signal could score it"
        groups: dict[tuple[str, str], list[int] | None]
        if bool(can.all() or not can.any()) and bool((version == version[0]).all()):
            groups = {(signal_of[bool(can[0])], str(version[0])): None}
        else:
            groups = {}
            for i, (c, v) in enumerate(zip(can.tolist(), version.tolist(), strict=True)):
                groups.setdefault((signal_of[c], str(v)), []).append(i)  # type: ignore[union-attr]
        for (signal, model_version), members in groups.items():
            idx: Any = slice(None) if members is None else np.asarray(members)
            ids = item_ids if members is None else [item_ids[i] for i in members]
            values = self.score_encoder.encode_batch(
                item_ids=ids,
                scores=scores[idx],
                signal=signal,
                policy_version=self.policy.version,
                model_version=model_version,
                unit_of_work=self.policy.unit_of_work,
                in_slice=in_slice[idx],
                is_gold=is_gold[idx],
                predicted=predicted if members is None else [predicted[i] for i in members],
                confidence=confidence[idx],
                scored_at_ms=now_ms,
            )
            outputs.produce_many(self.scores_topic, ids, values)
            ITEMS_SCORED.labels(signal).inc(len(ids))

    def _observe(
        self,
        scores: np.ndarray,
        can: np.ndarray,
        in_slice: np.ndarray,
        predicted: list[str | None],
        signal_label: str,
    ) -> None:
        self._recent.append((len(scores), int(in_slice.sum())))
        total = sum(n for n, _ in self._recent)
        RANDOM_SLICE_SHARE.set(sum(s for _, s in self._recent) / total if total else 0.0)
        hist = SCORES.labels(signal_label)
        sample = scores[can][:: max(1, int(can.sum()) // 200)]  # a spread sample keeps the histogram cheap
        for value in sample.tolist():
            hist.observe(value)
        slice_rows = np.flatnonzero(in_slice & can)
        self.drift.add(scores[slice_rows], [predicted[i] for i in slice_rows])
        DRIFT_PSI.labels("score").set(self.drift.psi_score)
        DRIFT_PSI.labels("class").set(self.drift.psi_class)
        DOMAIN_SHIFT.set(1 if self.drift.shifted else 0)

    def _note_fallback(self, count: int) -> None:
        FALLBACK_ACTIVE.set(1)
        if not self._fallback_logged:
            self._fallback_logged = True
            log.warning(
                "%d items could not be scored by %r (no probabilities on the items, "
                "no model announced on the models topic, no scorer.bootstrap_model): "
                "scoring them with 'random' (model_version 'none') until a model arrives",
                count,
                self.signal_label,
            )

    # ----------------------------------------------------------------- candidates

    def _emit(self, selected: list[Selected], outputs: Any) -> None:
        if not selected:
            return
        now_ms = int(self.clock() * 1000)
        for s in selected:
            record = dict(s.row)
            record["reason"] = s.reason
            record["window_start"] = int(s.window_start * 1000)
            record["selected_at"] = now_ms
            outputs.produce(
                self.candidates_topic, value=self.candidates_codec.encode(record), key=record["item_id"]
            )
            CANDIDATES.labels(s.reason).inc()
