"""The demo's data: scikit-learn's bundled digits, split the way a real team would split it.

* a fixed validation set the trainer evaluates on and never trains on (never produced as items);
* a small random seed set that trains the first model (the baseline before smart selection);
* a stable QA gold set: stream items whose answers are known, routed as QA work;
* the stream: every other item, produced through the ingestion SDK;
* the answer key the simulated annotators use to be right with their configured accuracy.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

CLASSES = [str(digit) for digit in range(10)]


@dataclass(frozen=True)
class DemoData:
    stream_ids: list[str]
    stream_features: np.ndarray  # (n, 64) float32
    stream_labels: list[str]
    validation_file: Path
    seed_file: Path
    qa_gold_file: Path
    truth_file: Path
    qa_gold_ids: list[str]
    seed_ids: list[str]


def _write_npz(path: Path, ids: list[str], features: np.ndarray, labels: list[str]) -> None:
    np.savez(path, item_ids=np.array(ids), embeddings=features.astype("<f4"), labels=np.array(labels))


def prepare(
    directory: Path | str,
    *,
    seed: int = 7,
    validation_share: float = 0.25,
    seed_size: int = 40,
    qa_gold_size: int = 60,
) -> DemoData:
    """Write the demo's files into ``directory`` and return the stream to produce."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    features = (digits.data / 16.0).astype("<f4")  # pixel intensities scaled to [0, 1]
    labels = [str(int(t)) for t in digits.target]
    ids = [f"digit-{index:05d}" for index in range(len(labels))]
    stream_idx, valid_idx = train_test_split(
        np.arange(len(ids)), test_size=validation_share, random_state=seed, stratify=digits.target
    )
    stream_idx = np.sort(stream_idx)
    rng = np.random.default_rng(seed)
    seed_idx = np.sort(rng.choice(stream_idx, size=seed_size, replace=False))
    remaining = np.setdiff1d(stream_idx, seed_idx)
    qa_idx = np.sort(rng.choice(remaining, size=qa_gold_size, replace=False))

    validation_file = directory / "validation.npz"
    _write_npz(
        validation_file, [ids[i] for i in valid_idx], features[valid_idx], [labels[i] for i in valid_idx]
    )
    seed_file = directory / "seed.npz"
    _write_npz(seed_file, [ids[i] for i in seed_idx], features[seed_idx], [labels[i] for i in seed_idx])
    qa_gold_file = directory / "qa_gold.csv"
    _write_csv(qa_gold_file, [(ids[i], labels[i]) for i in qa_idx])
    truth_file = directory / "truth.csv"
    _write_csv(truth_file, [(ids[i], labels[i]) for i in stream_idx])
    # The seed items were labeled to train the first model: they are not streamed again.
    streamed = np.setdiff1d(stream_idx, seed_idx)
    return DemoData(
        stream_ids=[ids[i] for i in streamed],
        stream_features=features[streamed],
        stream_labels=[labels[i] for i in streamed],
        validation_file=validation_file,
        seed_file=seed_file,
        qa_gold_file=qa_gold_file,
        truth_file=truth_file,
        qa_gold_ids=[ids[i] for i in qa_idx],
        seed_ids=[ids[i] for i in seed_idx],
    )


def _write_csv(path: Path, rows: list[tuple[str, str]]) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item_id", "label"])
        writer.writerows(rows)
