"""Online proof of value: the loop against random labeling, on the team's own production labels.

The fixed random slice is a uniform sample of the stream, so its labels (assignment kind ``RANDOM``)
are the one unbiased view of production data. A fixed share of them, chosen by a salted hash of the
item id so an item never changes side, is *held out*: no model the trainer publishes trains on it.
Every training run then answers, on those held-out labels:

* **served**: the metric of the model just trained (the production-data counterpart of the fixed
  validation set's number);
* **random**: a committee trained on the K random-slice labels that are not held out (plus the seed
  set): what labeling at random would have bought with K labels;
* **loop**: the same committee trained on the loop's first K labels in the order they were submitted
  (every kind, the loop's own random share included, plus the seed set): what the loop bought with
  the same number of labels.

``loop - random`` is the advantage, measured at equal label counts and week by week (every release
adds a point). The numbers go to the models topic (``online:*`` metrics of the announcement, so the
release notes show them), to ``<state_dir>/models/<model_name>/online-proof.jsonl`` and to the
``alstream_trainer_online_*`` gauges, which a restarted trainer restores from that file.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from alstream.agents.selection.random_slice import slice_positions
from alstream.agents.trainer.committee import fit_committee
from alstream.agents.trainer.config import CommitteeMember
from alstream.agents.trainer.evaluation import LabeledSet, evaluate
from alstream.agents.trainer.exceptions import TrainerError
from alstream.agents.trainer.metrics import (
    ONLINE_ADVANTAGE,
    ONLINE_EVAL_LABELS,
    ONLINE_EVALUATED_AT,
    ONLINE_METRIC,
    ONLINE_TRAINING_LABELS,
)
from alstream.models.artifacts import ModelBundle

log = logging.getLogger(__name__)

#: never change: it redraws which random-slice labels are held out
HELD_OUT_SALT = "alstream-online-proof-v1"
RANDOM_KIND = "RANDOM"
PROOF_FILE = "online-proof.jsonl"


@dataclass(frozen=True)
class LabelHistory:
    """A release's trainable items with what the online proof needs: kind and submission time."""

    item_ids: np.ndarray
    embeddings: np.ndarray
    labels: np.ndarray
    kinds: np.ndarray
    submitted: np.ndarray  # epoch seconds of the first label

    def __len__(self) -> int:
        return len(self.item_ids)

    def take(self, rows: np.ndarray) -> LabelHistory:
        return LabelHistory(
            self.item_ids[rows],
            self.embeddings[rows],
            self.labels[rows],
            self.kinds[rows],
            self.submitted[rows],
        )


def history_from_items(data: bytes) -> LabelHistory:
    """Trainable rows (a consolidated label and an embedding) of a release's items.parquet."""
    import pyarrow.parquet as pq

    return history_from_table(pq.read_table(io.BytesIO(data), columns=list(HISTORY_COLUMNS)))


HISTORY_COLUMNS = ("item_id", "label", "embedding", "kind", "first_submitted_at")


def history_from_table(table: Any) -> LabelHistory:
    """Trainable rows of release items (an Arrow table with :data:`HISTORY_COLUMNS`), as columns: no
    Python object per row, so a million-item release loads in a moment."""
    import pyarrow.compute as pc

    table = table.filter(pc.and_(pc.is_valid(table["label"]), pc.is_valid(table["embedding"])))
    if not table.num_rows:
        empty = np.empty(0, dtype=str)
        return LabelHistory(empty, np.empty((0, 0), np.float32), empty, empty, np.empty(0))
    embeddings = table["embedding"].combine_chunks()
    sizes = np.unique(pc.list_value_length(embeddings).to_numpy(zero_copy_only=False))
    if len(sizes) > 1:
        raise TrainerError(f"the labeled items mix embedding dimensions {sorted(int(n) for n in sizes)}")
    flat = pc.list_flatten(embeddings).to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    submitted = table["first_submitted_at"].cast("int64").to_numpy(zero_copy_only=False)
    return LabelHistory(
        item_ids=np.asarray(table["item_id"].to_pylist()),
        embeddings=flat.reshape(table.num_rows, int(sizes[0])),
        labels=np.asarray(table["label"].to_pylist()),
        kinds=np.asarray(table["kind"].to_pylist()),
        submitted=submitted.astype(np.float64) / 1000.0,
    )


def held_out_mask(
    item_ids: Sequence[str] | np.ndarray, kinds: Sequence[str] | np.ndarray, share: float
) -> np.ndarray:
    """Random-slice labels kept for evaluation only: a fixed ``share`` of them by a hash of the id."""
    if share <= 0 or len(item_ids) == 0:
        return np.zeros(len(item_ids), dtype=bool)
    positions = slice_positions(list(item_ids), salt=HELD_OUT_SALT)
    return (np.asarray(kinds) == RANDOM_KIND) & (positions < share)


@dataclass(frozen=True)
class OnlineProof:
    """One evaluation of the loop against random on held-out random-slice labels."""

    metric_name: str
    loop: float
    random: float
    served: float
    training_labels: int  # K: labels each of the loop and random committees learned from
    eval_labels: int
    evaluated_at: str
    release_id: str | None = None

    @property
    def advantage(self) -> float:
        return self.loop - self.random

    def as_metrics(self) -> dict[str, float]:
        """The ``online:*`` entries of a model announcement's metrics map."""
        return {
            "online:loop": self.loop,
            "online:random": self.random,
            "online:served": self.served,
            "online:advantage": self.advantage,
            "online:training_labels": float(self.training_labels),
            "online:eval_labels": float(self.eval_labels),
        }


def measure(
    history: LabelHistory,
    *,
    served: ModelBundle,
    seed: LabeledSet | None,
    committee: Sequence[CommitteeMember],
    metric: str,
    held_out_share: float,
    min_eval_labels: int,
    random_state: int = 0,
    release_id: str | None = None,
    now: datetime | None = None,
) -> tuple[OnlineProof | None, str]:
    """The proof for one release's labels, or None and the reason it cannot be measured yet."""
    held = held_out_mask(history.item_ids, history.kinds, held_out_share)
    if held.sum() < min_eval_labels:
        return None, f"{int(held.sum())} held-out random-slice labels, fewer than {min_eval_labels}"
    evaluation = LabeledSet(history.item_ids[held], history.embeddings[held], history.labels[held])
    rest = history.take(np.flatnonzero(~held))
    by_time = rest.take(np.lexsort((rest.item_ids, rest.submitted)))
    random_rows = np.flatnonzero(by_time.kinds == RANDOM_KIND)
    k = len(random_rows)
    if k == 0:
        return None, "no random-slice labels left to train the random counterfactual on"
    arms = {"random": by_time.take(random_rows), "loop": by_time.take(np.arange(k))}
    values: dict[str, float] = {}
    try:
        values["served"] = _metric(served, evaluation, metric)
        for arm, rows in arms.items():
            features, targets = _with_seed(rows, seed)
            if len(set(targets.tolist())) < 2:
                return None, f"the {arm} arm's {k} labels hold one class"
            bundle = fit_committee(features, targets, members=committee, random_state=random_state)
            values[arm] = _metric(bundle, evaluation, metric)
    except TrainerError as exc:
        return None, str(exc)
    proof = OnlineProof(
        metric_name=metric,
        loop=values["loop"],
        random=values["random"],
        served=values["served"],
        training_labels=k,
        eval_labels=len(evaluation),
        evaluated_at=(now or datetime.now(UTC)).isoformat(),
        release_id=release_id,
    )
    return proof, "measured"


def _with_seed(rows: LabelHistory, seed: LabeledSet | None) -> tuple[np.ndarray, np.ndarray]:
    if seed is None or len(seed) == 0:
        return rows.embeddings, rows.labels
    return np.vstack([seed.embeddings, rows.embeddings]), np.concatenate([seed.labels, rows.labels])


def _metric(bundle: ModelBundle, evaluation: LabeledSet, metric: str) -> float:
    values = evaluate(bundle, evaluation)
    if metric not in values:
        raise TrainerError(f"metric {metric!r} cannot be measured on the held-out labels (class absent)")
    return values[metric]


def export(proof: OnlineProof) -> None:
    """Set the gauges the Operations dashboard and the AlstreamLoopNotBeatingRandom alert read."""
    for arm in ("loop", "random", "served"):
        ONLINE_METRIC.labels(arm).set(getattr(proof, arm))
    ONLINE_ADVANTAGE.set(proof.advantage)
    ONLINE_TRAINING_LABELS.set(proof.training_labels)
    ONLINE_EVAL_LABELS.set(proof.eval_labels)
    ONLINE_EVALUATED_AT.set(datetime.fromisoformat(proof.evaluated_at).timestamp())


def record(proof: OnlineProof, directory: Path) -> None:
    """Append the proof to the model line's history file (one JSON object per line)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / PROOF_FILE, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(asdict(proof), sort_keys=True) + "\n")


def read_history(directory: Path) -> list[OnlineProof]:
    """Every recorded proof, oldest first; unreadable lines are skipped (a torn last line)."""
    path = directory / PROOF_FILE
    if not path.is_file():
        return []
    proofs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            proofs.append(OnlineProof(**json.loads(line)))
        except (ValueError, TypeError):
            log.warning("skipping an unreadable line of %s", path)
    return proofs


def restore(directory: Path) -> OnlineProof | None:
    """Re-export the latest recorded proof (a restarted trainer keeps the dashboard and alert fed)."""
    proofs = read_history(directory)
    if proofs:
        export(proofs[-1])
        return proofs[-1]
    return None


def from_metrics(metrics: Mapping[str, float]) -> dict[str, float] | None:
    """The ``online:*`` entries of an announcement, without the prefix, or None when absent."""
    found = {k.removeprefix("online:"): float(v) for k, v in metrics.items() if k.startswith("online:")}
    return found or None
