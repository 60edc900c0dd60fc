"""Selection signals: each turns a batch of model outputs into one score per item, higher = label it first.

Every signal is a small class with a ``name``, an ``explanation`` of two sentences a PM can read
(``alstream policy explain`` prints it) and a vectorised ``score``. Scores are deterministic
functions of their inputs (``random`` hashes the item id), so replaying a batch after a crash gives
the same score for the same model version: the scorer's outputs are idempotent by item_id.

Inputs, all numpy arrays over the same ``n`` items:

* ``probabilities`` (n, k): class probabilities to rank by (the production model's when items carry
  them, else the mean of the policy's committee);
* ``committee``: one (n, k) array per committee member (two weak models disagreeing);
* ``embeddings`` (n, d): the items' feature vectors;
* ``item_ids`` (optional): used only by ``random``;
* ``hardness`` (optional, n,): a per-item hardness in [0, 1] from segmentation summaries.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from alstream.agents.selection.exceptions import SignalInputError, UnknownSignal
from alstream.agents.selection.random_slice import slice_positions

_EPS = 1e-12


def _require_probabilities(name: str, probabilities: np.ndarray | None, n: int | None = None) -> np.ndarray:
    if probabilities is None:
        raise SignalInputError(f"signal {name!r} needs class probabilities (from the items or a model)")
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise SignalInputError(f"signal {name!r} needs probabilities of shape (n, k>=2), got {p.shape}")
    return p


def _require_committee(name: str, committee: Sequence[np.ndarray] | None) -> list[np.ndarray]:
    if not committee:
        raise SignalInputError(
            f"signal {name!r} needs a committee of models (a model bundle with estimators)"
        )
    members = [np.asarray(m, dtype=np.float64) for m in committee]
    shape = members[0].shape
    if len(shape) != 2 or any(m.shape != shape for m in members):
        raise SignalInputError(f"signal {name!r}: committee members must share one (n, k) shape")
    return members


class Signal:
    """Base class. Subclasses set ``name``, ``explanation``, ``needs`` and implement ``score``."""

    name: ClassVar[str] = ""
    explanation: ClassVar[str] = ""
    #: which input the signal reads: "probabilities", "committee", "embeddings", "ids" or "hardness"
    needs: ClassVar[str] = "probabilities"
    #: constructor arguments the code passes, not a policy file (e.g. a loaded failure bank)
    internal_params: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, **params: Any) -> None:
        if params:
            raise SignalInputError(f"signal {self.name!r} takes no parameters, got {sorted(params)}")

    @property
    def params(self) -> dict[str, Any]:
        return {}

    def score(
        self,
        *,
        probabilities: np.ndarray | None,
        committee: Sequence[np.ndarray] | None,
        embeddings: np.ndarray,
        item_ids: Sequence[str] | None = None,
        hardness: np.ndarray | None = None,
    ) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.params})"


class Entropy(Signal):
    name = "entropy"
    explanation = (
        "Scores how evenly the model spreads its belief across all classes, so items where it cannot "
        "make up its mind come first. Labeling them teaches the model most per label when classes are stable."
    )

    def __init__(self, *, normalize: bool = False) -> None:
        self.normalize = bool(normalize)

    @property
    def params(self) -> dict[str, Any]:
        return {"normalize": self.normalize}

    def score(self, *, probabilities, committee, embeddings, item_ids=None, hardness=None):  # type: ignore[no-untyped-def]
        p = _require_probabilities(self.name, probabilities)
        h = np.maximum(-np.sum(p * np.log(np.clip(p, _EPS, 1.0)), axis=1), 0.0)
        if self.normalize:
            h = h / math.log(p.shape[1])
        return h


class Margin(Signal):
    name = "margin"
    explanation = (
        "Scores how close the model's top two guesses are, so items on the border between two classes "
        "come first. It is the signal to use when the costly mistakes are confusions between similar classes."
    )

    def score(self, *, probabilities, committee, embeddings, item_ids=None, hardness=None):  # type: ignore[no-untyped-def]
        p = _require_probabilities(self.name, probabilities)
        top2 = np.partition(p, -2, axis=1)[:, -2:]
        return 1.0 - (top2[:, 1] - top2[:, 0])


class LeastConfidence(Signal):
    name = "least_confidence"
    explanation = (
        "Scores one minus the probability of the model's best guess, so items it is least sure about come "
        "first. It is the simplest uncertainty measure and easy to audit."
    )

    def score(self, *, probabilities, committee, embeddings, item_ids=None, hardness=None):  # type: ignore[no-untyped-def]
        p = _require_probabilities(self.name, probabilities)
        return 1.0 - p.max(axis=1)


class LowConfidence(Signal):
    name = "low_confidence"
    explanation = (
        "Picks only items whose confidence score falls below a threshold, lowest first; items above it "
        "score zero. Use it when you trust the model above the threshold and want reviewers on the rest."
    )

    def __init__(self, *, threshold: float = 0.6, class_index: int | None = None) -> None:
        if not 0.0 < float(threshold) <= 1.0:
            raise SignalInputError(f"low_confidence threshold must be in (0, 1], got {threshold}")
        self.threshold = float(threshold)
        self.class_index = None if class_index is None else int(class_index)

    @property
    def params(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "class_index": self.class_index}

    def score(self, *, probabilities, committee, embeddings, item_ids=None, hardness=None):  # type: ignore[no-untyped-def]
        p = _require_probabilities(self.name, probabilities)
        if self.class_index is None:
            confidence = p.max(axis=1)
        else:
            if not 0 <= self.class_index < p.shape[1]:
                raise SignalInputError(
                    f"low_confidence class_index {self.class_index} outside 0..{p.shape[1] - 1}"
                )
            confidence = p[:, self.class_index]
        return np.maximum(self.threshold - confidence, 0.0) / self.threshold


class VoteEntropy(Signal):
    name = "vote_entropy"
    needs = "committee"
    explanation = (
        "Asks two or more weak models for their best guess and scores how split their votes are. Items "
        "where the models disagree come first, which catches mistakes a single confident model hides."
    )

    def score(self, *, probabilities, committee, embeddings, item_ids=None, hardness=None):  # type: ignore[no-untyped-def]
        members = _require_committee(self.name, committee)
        n, k = members[0].shape
        votes = np.zeros((n, k), dtype=np.float64)
        rows = np.arange(n)
        for m in members:
            votes[rows, m.argmax(axis=1)] += 1.0
        v = votes / len(members)
        return np.maximum(-np.sum(v * np.log(np.clip(v, _EPS, 1.0)), axis=1), 0.0)


class KLDisagreement(Signal):
    name = "kl_disagreement"
    needs = "committee"
    explanation = (
        "Compares the full probability distributions of two or more weak models and scores how far each is "
        "from their consensus (mean KL divergence). Items where the models tell different stories come first."
    )

    def score(self, *, probabilities, committee, embeddings, item_ids=None, hardness=None):  # type: ignore[no-untyped-def]
        members = _require_committee(self.name, committee)
        stacked = np.clip(np.stack(members), _EPS, 1.0)  # (m, n, k)
        consensus = stacked.mean(axis=0)
        kl = np.sum(stacked * (np.log(stacked) - np.log(consensus)[None]), axis=2)
        return np.maximum(kl.mean(axis=0), 0.0)


class FailureDistance(Signal):
    name = "failure_distance"
    needs = "embeddings"
    internal_params = frozenset({"bank"})
    explanation = (
        "Scores how close an item's embedding is to items the model is known to have got wrong, closest "
        "first. It sends reviewers to the neighbourhoods where the model already failed, whatever it says."
    )

    def __init__(self, *, bank: Any = None, bank_file: str | None = None, scale: float = 1.0) -> None:
        from alstream.agents.selection.failure_bank import FailureBank

        if float(scale) <= 0:
            raise SignalInputError(f"failure_distance scale must be > 0, got {scale}")
        self.scale = float(scale)
        self.bank_file = bank_file
        if bank is None:
            bank = FailureBank.load(bank_file) if bank_file else FailureBank(embedding_dim=None)
        self.bank = bank

    @property
    def params(self) -> dict[str, Any]:
        return {"scale": self.scale, "bank_file": self.bank_file}

    def score(self, *, probabilities, committee, embeddings, item_ids=None, hardness=None):  # type: ignore[no-untyped-def]
        distances = self.bank.nearest_distance(np.asarray(embeddings, dtype=np.float32))
        return 1.0 / (1.0 + distances / self.scale)


class RandomSignal(Signal):
    name = "random"
    needs = "ids"
    explanation = (
        "Gives every item a random score, so selection is a uniform sample of the stream. It is the baseline "
        "every smarter policy must beat, and the score is a hash of the item id so it never changes."
    )

    def __init__(self, *, salt: str = "alstream-random-signal") -> None:
        self.salt = str(salt)

    @property
    def params(self) -> dict[str, Any]:
        return {"salt": self.salt}

    def score(self, *, probabilities, committee, embeddings, item_ids=None, hardness=None):  # type: ignore[no-untyped-def]
        if item_ids is not None:
            return slice_positions(item_ids, salt=self.salt)
        e = np.ascontiguousarray(np.asarray(embeddings, dtype="<f4"))
        rows = [r.tobytes() for r in e]
        return slice_positions([r.hex() for r in rows], salt=self.salt)


class Hardness(Signal):
    name = "hardness"
    needs = "hardness"
    explanation = (
        "Uses the hardness the producer's segmentation model reports per object or per pixel mask, hardest "
        "first. It keeps one unit of work (object, region or mask) so reviewers see comparable tasks."
    )

    def __init__(self, *, aggregate: str = "max", pixel_measure: str = "mean_uncertainty") -> None:
        if aggregate not in ("max", "mean"):
            raise SignalInputError(f"hardness aggregate must be 'max' or 'mean', got {aggregate!r}")
        if pixel_measure not in ("mean_uncertainty", "uncertain_fraction"):
            raise SignalInputError(
                "hardness pixel_measure must be 'mean_uncertainty' or 'uncertain_fraction', "
                f"got {pixel_measure!r}"
            )
        self.aggregate = aggregate
        self.pixel_measure = pixel_measure

    @property
    def params(self) -> dict[str, Any]:
        return {"aggregate": self.aggregate, "pixel_measure": self.pixel_measure}

    def summarise(self, summary: dict[str, Any] | None, unit_of_work: str) -> float:
        """One hardness per item from its HardnessSummary record; NaN when it carries none."""
        if summary is None:
            return math.nan
        if unit_of_work == "PIXEL_MASK":
            key = (
                "pixel_mean_uncertainty"
                if self.pixel_measure == "mean_uncertainty"
                else "pixel_uncertain_fraction"
            )
            value = summary.get(key)
            if value is not None:
                return float(value)
        objects = np.frombuffer(summary.get("object_hardness") or b"", dtype="<f4")
        if objects.size == 0:
            return math.nan
        return float(objects.max() if self.aggregate == "max" else objects.mean())

    def score(self, *, probabilities, committee, embeddings, item_ids=None, hardness=None):  # type: ignore[no-untyped-def]
        if hardness is None:
            raise SignalInputError("signal 'hardness' needs the items' segmentation hardness summaries")
        return np.nan_to_num(np.asarray(hardness, dtype=np.float64), nan=0.0)


SIGNALS: dict[str, type[Signal]] = {
    cls.name: cls
    for cls in (
        Entropy,
        Margin,
        LeastConfidence,
        LowConfidence,
        VoteEntropy,
        KLDisagreement,
        FailureDistance,
        RandomSignal,
        Hardness,
    )
}


def signal_parameters(name: str) -> dict[str, Any]:
    """The parameters a policy may give signal ``name``, with their defaults."""
    factory = SIGNALS[name]
    parameters = inspect.signature(factory.__init__).parameters.values()
    return {
        p.name: p.default
        for p in parameters
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in factory.internal_params
    }


def describe_parameters(name: str) -> str:
    """``normalize (default False)``-style list of a signal's parameters, or says it takes none."""
    found = signal_parameters(name)
    if not found:
        return f"signal {name!r} takes no parameters"
    listed = ", ".join(f"{key} (default {value!r})" for key, value in found.items())
    return f"signal {name!r} takes: {listed}"


def signal_named(name: str, **params: Any) -> Signal:
    """Build the signal called ``name`` with ``params``; unknown names and parameters fail clearly."""
    factory = SIGNALS.get(name)
    if factory is None:
        raise UnknownSignal(f"unknown selection signal {name!r}: choose one of {', '.join(sorted(SIGNALS))}")
    unknown = sorted(set(params) - set(signal_parameters(name)) - factory.internal_params)
    if unknown:
        raise SignalInputError(
            f"signal {name!r} has no parameter {', '.join(unknown)}; {describe_parameters(name)}"
        )
    try:
        return factory(**params)
    except TypeError as exc:
        raise SignalInputError(f"signal {name!r}: bad parameters {sorted(params)}: {exc}") from None
