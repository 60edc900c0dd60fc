"""What a demo run does, as one typed object the CLI and the end-to-end test both fill in."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SimulatedAnnotator:
    """One auto annotator: how fast and how right it is, and whether it drifts mid-run."""

    annotator_id: str
    accuracy: float
    seconds_per_item: float
    drift_after: int | None = None
    drift_accuracy: float | None = None


DEFAULT_ANNOTATORS = (
    SimulatedAnnotator(annotator_id="ann-ada", accuracy=0.97, seconds_per_item=0.05),
    SimulatedAnnotator(annotator_id="ann-bo", accuracy=0.93, seconds_per_item=0.08),
    SimulatedAnnotator(annotator_id="ann-cy", accuracy=0.95, seconds_per_item=0.12),
    # Drifts halfway: its answers turn noisy, overlapped items disagree, a calibration round follows.
    SimulatedAnnotator(
        annotator_id="ann-dee", accuracy=0.95, seconds_per_item=0.06, drift_after=40, drift_accuracy=0.2
    ),
)


@dataclass(frozen=True)
class DemoOptions:
    output_dir: Path = Path("demo-output")
    duration_s: float = 100.0
    retrain_every_s: float = 30.0
    waves: int = 12
    synthetic_items: int = 0
    partitions: int = 2
    seed: int = 7
    annotators: tuple[SimulatedAnnotator, ...] = DEFAULT_ANNOTATORS
    live_view: bool = True
    # --ui: a local Label Studio where a person labels beside the simulated annotators, as this annotator.
    ui: bool = False
    ui_annotator: str = "you"
    extra_env: dict[str, str] = field(default_factory=dict)
