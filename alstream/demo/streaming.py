"""Streams the demo dataset into the items topic in waves, through ``alstream produce``.

Waves rather than one burst so that later items are scored by later model versions, which is what
a real stream looks like: the loop's retraining shows up in the scores. Optional synthetic volume
(noisy copies of real items, with their answer added to the truth file) makes the stream bigger
without inventing labels nobody could check.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from alstream.demo.dataset import DemoData
from alstream.demo.images import write_digit_images


class WaveFeeder:
    """Writes one JSONL file per wave up front, then starts ``alstream produce`` for each when due."""

    def __init__(
        self,
        *,
        data: DemoData,
        waves: int,
        synthetic_items: int,
        seed: int,
        start_process: Any,
        directory: Path,
        last_wave_at: float = 0.55,
        image_dir: Path | None = None,
    ) -> None:
        self.waves = max(1, waves)
        self.start_process = start_process
        self.last_wave_at = last_wave_at
        self.started_waves = 0
        self.sent = 0
        self.files: list[Path] = []
        ids = list(data.stream_ids)
        features = np.asarray(data.stream_features, dtype="<f4")
        labels = list(data.stream_labels)
        if synthetic_items:
            ids, features, labels = self._with_synthetic(
                ids, features, labels, synthetic_items, seed, data.truth_file
            )
        # With image_dir (demo --ui) every item gets a PNG and a file:// uri a person's browser can be shown.
        uris = (
            {item: path.as_uri() for item, path in write_digit_images(image_dir, ids, features).items()}
            if image_dir is not None
            else {}
        )
        order = np.random.default_rng(seed).permutation(len(ids))
        directory.mkdir(parents=True, exist_ok=True)
        for wave, chunk in enumerate(np.array_split(order, self.waves)):
            path = directory / f"wave-{wave + 1}.jsonl"
            with open(path, "w") as handle:
                for index in chunk:
                    record = self._record(ids[index], features[index], uris.get(ids[index]))
                    handle.write(json.dumps(record) + "\n")
            self.files.append(path)
        self.sizes = [len(chunk) for chunk in np.array_split(order, self.waves)]
        self.total = len(ids)

    @staticmethod
    def _record(item_id: str, feature: np.ndarray, uri: str | None = None) -> dict[str, Any]:
        record = {
            "item_id": item_id,
            "source": "sklearn-digits",
            "unit_of_work": "ITEM",
            "embedding": [round(float(v), 6) for v in feature],
            "metadata": {"dataset": "digits"},
        }
        if uri is not None:
            record["uri"] = uri
        return record

    @staticmethod
    def _with_synthetic(
        ids: list[str], features: np.ndarray, labels: list[str], count: int, seed: int, truth_file: Path
    ) -> tuple[list[str], np.ndarray, list[str]]:
        rng = np.random.default_rng(seed + 1)
        picks = rng.integers(0, len(ids), size=count)
        noisy = np.clip(features[picks] + rng.normal(0, 0.05, size=(count, features.shape[1])), 0, 1)
        new_ids = [f"synthetic-{n:07d}" for n in range(count)]
        new_labels = [labels[p] for p in picks]
        with open(truth_file, "a", newline="") as handle:
            csv.writer(handle).writerows(zip(new_ids, new_labels, strict=True))
        return ids + new_ids, np.vstack([features, noisy.astype("<f4")]), labels + new_labels

    def feed_due(self, *, elapsed_fraction: float) -> None:
        """Start every wave whose time has come (wave 1 at once, the last at ``last_wave_at``)."""
        while self.started_waves < self.waves:
            due_at = 0.0 if self.waves == 1 else self.last_wave_at * self.started_waves / (self.waves - 1)
            if elapsed_fraction < due_at:
                return
            path = self.files[self.started_waves]
            self.start_process(f"produce-wave-{self.started_waves + 1}", ["produce", str(path)])
            self.sent += self.sizes[self.started_waves]
            self.started_waves += 1
