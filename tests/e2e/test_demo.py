"""A shortened ``alstream demo``: the whole loop on the embedded broker, checked from the topics.

One run, several assertions: each is a promise the product makes (releases with a full manifest,
a model that improves, the random mix within its bounds, quotas held, calibration when an annotator
drifts). The facts come from the demo's own audit, which reads the topics, not the agents' metrics.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from alstream.agents.router.quotas import load_quotas
from alstream.demo.options import DemoOptions
from alstream.demo.orchestrator import Demo, DemoResult

MANIFEST_FIELDS = {
    "release_id",
    "parent_release_id",
    "created_at",
    "policy_versions",
    "model_versions",
    "labels_from",
    "labels_to",
    "counts_by_kind",
    "counts_by_class",
    "qa_error_rate",
    "agreement",
    "validation_metric",
    "content_hash",
}
pytestmark = [pytest.mark.broker, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    output = tmp_path_factory.mktemp("demo") / "out"
    options = DemoOptions(output_dir=output, duration_s=75.0, retrain_every_s=25.0, live_view=False)
    return Demo(options=options, console=Console(file=io.StringIO(), width=120)).run()


def test_release_exists_with_a_full_manifest(demo_run: DemoResult) -> None:
    assert demo_run.release_dirs, "the demo built no release"
    manifests = [json.loads((Path(d) / "manifest.json").read_text()) for d in demo_run.release_dirs]
    for manifest in manifests:
        assert set(manifest) >= MANIFEST_FIELDS, MANIFEST_FIELDS - set(manifest)
    with_labels = [m for m in manifests if m["label_count"]]
    assert with_labels, "no release carries labels"
    latest = with_labels[-1]
    assert (latest["labels_from"] and latest["labels_to"]) or latest["parent_release_id"]
    assert "2026.12-demo-2" in latest["policy_versions"]
    assert latest["model_versions"], "a release must name the model versions that ranked its items"
    assert (Path(demo_run.release_dirs[-1]) / "RELEASE_NOTES.md").is_file()


def test_validation_metric_improved_over_the_first_model(demo_run: DemoResult) -> None:
    models = demo_run.facts["models"]
    assert len(models) >= 2, models
    assert models[-1]["validation_metric"] > models[0]["validation_metric"] + 0.05


def test_random_share_of_assignments_within_bounds(demo_run: DemoResult) -> None:
    quotas = load_quotas(demo_run.output_dir / "config" / "quotas.toml")
    share = demo_run.facts["random_share"]
    assert demo_run.facts["assignments"] >= 50
    # The guide's 10-20 % mix; the router targets quotas.random_share within it.
    assert 0.10 <= share <= 0.20, (share, quotas.random_share)


def test_no_annotator_over_quota_and_no_item_twice(demo_run: DemoResult) -> None:
    quotas = load_quotas(demo_run.output_dir / "config" / "quotas.toml")
    hard = demo_run.facts["hard_per_annotator"]
    assert hard, "no hard items were assigned"
    assert max(hard.values()) <= quotas.max_hard_per_day
    assert demo_run.facts["items_twice_with_one_annotator"] == {}


def test_calibration_event_fired_with_20_to_50_items(demo_run: DemoResult) -> None:
    events = demo_run.facts["calibration_events"]
    assert events, "the drifting annotator caused no calibration event"
    assert all(20 <= event["items"] <= 50 for event in events)
    assert demo_run.facts["assignments_by_kind"].get("CALIBRATION", 0) > 0


def test_learning_curve_shows_the_loop_ahead_of_random_labeling(demo_run: DemoResult) -> None:
    """The report's random curve: the same committee on as many random stream items, labels as noisy."""
    random_at = {int(p["labels"]): p["metric"] for p in demo_run.facts["random_baseline"]}
    trained = [m for m in demo_run.facts["models"] if m["labels_used"] > 0]
    assert trained, "no model was trained on stream labels"
    gaps = [m["validation_metric"] - random_at[int(m["labels_used"])] for m in trained]
    assert sum(gaps) / len(gaps) > 0, (gaps, demo_run.facts["label_error_rate"])


def test_report_and_charts_written(demo_run: DemoResult) -> None:
    assert demo_run.report_file is not None and demo_run.report_file.is_file()
    for chart in ("learning_curve.png", "time_per_item.png", "agreement_over_time.png"):
        assert (demo_run.output_dir / chart).stat().st_size > 1000
    assert demo_run.facts["items_scored"] == demo_run.facts["items_streamed"]
