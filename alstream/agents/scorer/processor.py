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
from alstream.agents.scorer.exceptions import BadItem
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
        self.tolerance = settings.ingest.probability_tolerance
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
        extra = {"bank": failure_bank} if policy.uses_failure_bank and failure_bank is not None else {}
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
        """Decode the batch and check every item once; refused items go to dead letters in one pass.

        One stage, so the scorer drops rows once: decode errors, a wrong embedding length, probabilities
        of the wrong width, another unit of work, a non-finite embedding, production probabilities that
        do not sum to 1. The first problem found for a row is the one its dead letter names.
        """
        columns = self.items_decoder.decode_batch(list(map(_VALUE, messages)))
        n = len(messages)
        bad: dict[int, BaseException] = dict(columns.errors)
        emb_bytes = 4 * self.embedding_dim
        k = len(self.task_classes) or (len(self.model.classes) if self.model else 0)
        unit = self.policy.unit_of_work
        emb_len = np.fromiter(map(len, columns.embeddings), dtype=np.int64, count=n)
        wrong_length = emb_len != emb_bytes
        for i in np.flatnonzero(wrong_length).tolist():
            bad.setdefault(
                i,
                BadItem(
                    f"embedding has {emb_len[i] // 4} floats, "
                    f"expected {self.embedding_dim} (ingest.embedding_dim)"
                ),
            )
        all_absent = columns.probabilities.count(None) == n  # the common case for embedding-only producers
        if not all_absent:
            for i, probs in enumerate(columns.probabilities):
                if probs is not None and (len(probs) % 4 or (k and len(probs) != 4 * k) or len(probs) < 8):
                    expected = k or "the task classes"
                    bad.setdefault(
                        i, BadItem(f"probabilities have {len(probs) / 4:g} values, expected {expected}")
                    )
        if columns.units.count(unit) != n:
            for i, item_unit in enumerate(columns.units):
                if item_unit != unit:
                    bad.setdefault(
                        i,
                        BadItem(
                            f"unit of work {item_unit} differs from the policy's {unit}: "
                            "a policy scores one unit of work; route other units to a scorer "
                            "with their own policy"
                        ),
                    )

        # Rows of another length (refused above) read as zeros, so the matrix keeps one row per item.
        parts = columns.embeddings
        if wrong_length.any():
            parts = [e if len(e) == emb_bytes else bytes(emb_bytes) for e in parts]
        embeddings = np.frombuffer(b"".join(parts), dtype="<f4").reshape(n, self.embedding_dim)
        finite = np.isfinite(embeddings).all(axis=1)
        if not finite.all():
            # A NaN / infinite vector would make every model raise: dead-letter it, or it is a poison
            # pill that crash-loops the scorer on every replay.
            for i in np.flatnonzero(~finite).tolist():
                bad.setdefault(
                    i, BadItem("embedding holds NaN or infinity; producers must send finite numbers")
                )

        has_prod = np.zeros(n, dtype=bool)
        prod = None
        if not all_absent:
            has_prod = np.fromiter(
                (p is not None and i not in bad for i, p in enumerate(columns.probabilities)),
                dtype=bool,
                count=n,
            )
            if has_prod.any():
                prod = self._production_probabilities(columns.probabilities, has_prod, bad)

        if bad:
            for i in sorted(bad):
                outputs.dead_letter(messages[i], bad[i], str(bad[i]))
            keep = [i for i in range(n) if i not in bad]
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

    def _production_probabilities(
        self, probs_list: list[bytes | None], has_prod: np.ndarray, bad: dict[int, BaseException]
    ) -> np.ndarray:
        """The production model's probabilities as an (n, k) matrix (NaN rows where absent); rows that are
        not k non-negative values summing to 1 are added to ``bad``."""
        rows = np.flatnonzero(has_prod).tolist()
        widths = [len(probs_list[i]) for i in rows]  # type: ignore[arg-type]
        # every width is k when task classes are configured; else items may disagree: keep the majority width
        k_prod = max(set(widths), key=widths.count) // 4
        prod = np.full((len(probs_list), k_prod), np.nan)
        ok = [i for i, width in zip(rows, widths, strict=True) if width == 4 * k_prod]
        values = b"".join(probs_list[i] for i in ok)  # type: ignore[misc]
        prod[ok] = np.frombuffer(values, dtype="<f4").reshape(len(ok), k_prod)
        sums = prod.sum(axis=1)
        # a row of another width stayed NaN: its sum is NaN, which fails the tolerance check too
        refused = has_prod & (
            ~(np.abs(sums - 1.0) <= self.tolerance) | (np.nanmin(prod, axis=1, initial=0) < -self.tolerance)
        )
        for i in np.flatnonzero(refused).tolist():
            bad.setdefault(
                i,
                BadItem(
                    f"probabilities must be {k_prod} non-negative values summing to 1 (sum={sums[i]:.4f})"
                ),
            )
        return prod

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
        version = np.full(n, NO_MODEL, dtype=object)
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

        scores = np.zeros(n, dtype=np.float64)
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
            closed += self.selector.add(
                partition,
                now=now,
                item_ids=sub_ids,
                scores=scores[idx],
                in_slice=in_slice[idx],
                is_gold=is_gold[idx],
                positions=positions[idx],
                shift_review=shift[idx] if shift is not None else None,
                build_row=lambda j, idx=idx: build(int(idx[j])),
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
