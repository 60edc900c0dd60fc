"""Evaluate the disagreement spike detector on synthetic overlapped-label streams (fixed seeds).

Scenarios (k annotators per overlapped item, 3 classes, 6 annotators):

* stationary: every annotator 90% (or 80%) accurate for the whole stream: every alarm is false;
* drifting annotator (the demo's story): halfway, one annotator drops to 30% accuracy;
* guideline ambiguity: halfway, every annotator drops from 90% to 70%.

Prints, per scenario, the detection rate, the detection delay in labels after the spike onset
(median / 90th percentile) and the false-alarm rate per 10,000 labels (alarms before the onset, or any
alarm in a stationary stream). Runs with the agent's default settings unless overridden by flags.

    .venv/bin/python bench/bench_agreement.py [--seeds 30] [--z 3.0] [--window 30]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

import numpy as np

from alstream.agents.agreement.config import AgreementSettings
from alstream.agents.agreement.spike import SpikeDetector

CLASSES = 3
ANNOTATORS = 6


@dataclass(frozen=True)
class Scenario:
    name: str
    items: int
    k: int
    accuracy: float
    spike_at: int | None = None
    drifter_accuracy: float | None = None  # one annotator after the onset
    everyone_accuracy: float | None = None  # all annotators after the onset
    annotators: int = ANNOTATORS


def _answer(rng: np.random.Generator, truth: int, accuracy: float) -> int:
    if rng.random() < accuracy:
        return truth
    return int((truth + rng.integers(1, CLASSES)) % CLASSES)


def simulate(scenario: Scenario, seed: int) -> list[tuple[int, bool]]:
    """(labels on the item, did its annotators disagree) per completed overlapped item."""
    rng = np.random.default_rng(seed)
    stream = []
    for index in range(scenario.items):
        after = scenario.spike_at is not None and index >= scenario.spike_at
        truth = int(rng.integers(0, CLASSES))
        raters = rng.choice(scenario.annotators, size=scenario.k, replace=False)
        answers = []
        for rater in raters:
            accuracy = scenario.accuracy
            if after and scenario.everyone_accuracy is not None:
                accuracy = scenario.everyone_accuracy
            if after and scenario.drifter_accuracy is not None and rater == 0:
                accuracy = scenario.drifter_accuracy
            answers.append(_answer(rng, truth, accuracy))
        stream.append((scenario.k, len(set(answers)) > 1))
    return stream


def run(scenario: Scenario, seeds: int, config: AgreementSettings) -> dict[str, float | None]:
    delays: list[int] = []
    false_alarms = 0
    clean_labels = 0
    for seed in range(seeds):
        detector = SpikeDetector.from_settings(config)
        labels_after_onset = 0
        detected = False
        for index, (labels, disagreed) in enumerate(simulate(scenario, seed)):
            onset_passed = scenario.spike_at is not None and index >= scenario.spike_at
            if onset_passed:
                labels_after_onset += labels
            else:
                clean_labels += labels
            if detector.observe(disagreed).fired:
                if onset_passed and not detected:
                    detected = True
                    delays.append(labels_after_onset)
                elif not onset_passed:
                    false_alarms += 1
    return {
        "detection_rate": (len(delays) / seeds) if scenario.spike_at is not None else None,
        "delay_median": statistics.median(delays) if delays else None,
        "delay_p90": float(np.percentile(delays, 90)) if delays else None,
        "false_alarms_per_10k": 10_000 * false_alarms / clean_labels if clean_labels else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--z", type=float, default=None, help="override z_threshold")
    parser.add_argument("--window", type=int, default=None, help="override window_items")
    parser.add_argument("--persistence", type=int, default=None, help="override persistence_items")
    args = parser.parse_args()
    overrides = {}
    if args.z is not None:
        overrides["z_threshold"] = args.z
    if args.window is not None:
        overrides["window_items"] = args.window
    if args.persistence is not None:
        overrides["persistence_items"] = args.persistence
    config = AgreementSettings(**overrides)
    scenarios = [
        Scenario("stationary k=3 acc .90", 4000, 3, 0.90),
        Scenario("stationary k=2 acc .80", 4000, 2, 0.80),
        Scenario("demo: drifter k=3 (450 labels)", 150, 3, 0.90, spike_at=75, drifter_accuracy=0.3),
        Scenario(
            "alstream demo: 4 ann, .95->.2 @30", 100, 3, 0.95, spike_at=30, drifter_accuracy=0.2, annotators=4
        ),
        Scenario(
            "alstream demo: 4 ann, .95->.2 @50", 100, 3, 0.95, spike_at=50, drifter_accuracy=0.2, annotators=4
        ),
        Scenario("stationary 4 ann k=3 acc .95", 4000, 3, 0.95, annotators=4),
        Scenario("demo: drifter k=2 (600 labels)", 300, 2, 0.90, spike_at=150, drifter_accuracy=0.3),
        Scenario("drifter k=3, long", 1500, 3, 0.90, spike_at=750, drifter_accuracy=0.3),
        Scenario("ambiguity k=3 .90->.70", 1500, 3, 0.90, spike_at=750, everyone_accuracy=0.70),
    ]
    print(
        f"detector: window={config.window_items} baseline={config.baseline_items} "
        f"min_baseline={config.min_baseline_items} z>={config.z_threshold} "
        f"increase>={config.min_rate_increase} persistence={config.persistence_items} "
        f"cooldown={config.cooldown_items}; {args.seeds} seeds each"
    )
    print(f"{'scenario':36} {'detected':>9} {'delay med':>10} {'delay p90':>10} {'false/10k labels':>17}")
    started = time.perf_counter()
    for scenario in scenarios:
        result = run(scenario, args.seeds, config)

        def fmt(value: float | None, pattern: str) -> str:
            width = int(pattern.split(".")[0].rstrip("f%") or 0)
            return "-".rjust(width) if value is None else format(value, pattern)

        print(
            f"{scenario.name:36} {fmt(result['detection_rate'], '9.0%')} "
            f"{fmt(result['delay_median'], '10.0f')} "
            f"{fmt(result['delay_p90'], '10.0f')} {result['false_alarms_per_10k']:17.2f}"
        )
    print(f"({time.perf_counter() - started:.1f}s; delays in labels after the onset)")


if __name__ == "__main__":
    main()
