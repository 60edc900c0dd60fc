"""The end of the demo: an audit of what happened on the topics, and a Markdown report with charts.

The audit reads the topics themselves (not the agents' metrics), so the facts it reports - random
share of assignments, hard items per annotator, calibration events, model versions - are what a
user could check with any Kafka consumer. The end-to-end test asserts on the same facts.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from alstream.agents.release.sources import read_topic as _read_snapshot
from alstream.agents.trainer.committee import fit_committee
from alstream.agents.trainer.evaluation import evaluate, load_npz
from alstream.demo.dataset import DemoData
from alstream.settings import AlstreamSettings

BASELINE_SEEDS = 5

HARD_KINDS = {"HARD"}


def _seconds(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value) / 1000.0


def read_topic(settings: AlstreamSettings, topic_key: str) -> list[dict[str, Any]]:
    return _read_snapshot(settings, topic_key).records


def collect_facts(
    *, settings: AlstreamSettings, state_dir: Path, data: DemoData, feeder: Any
) -> dict[str, Any]:
    assignments = read_topic(settings, "assignments")
    labels = read_topic(settings, "labels")
    calibration = read_topic(settings, "calibration")
    models = read_topic(settings, "models")
    releases = read_topic(settings, "releases")
    scores = read_topic(settings, "scores")
    dead = read_topic(settings, "dead-letters")
    candidates = read_topic(settings, "candidates")

    kinds = Counter(str(a["kind"]) for a in assignments)
    kind_of = {a["assignment_id"]: str(a["kind"]) for a in assignments}
    per_annotator_items: dict[str, Counter[str]] = defaultdict(Counter)
    hard_per_annotator: Counter[str] = Counter()
    for a in assignments:
        # Calibration deliberately shows a group its tough examples again; every other kind must not repeat.
        if str(a["kind"]) != "CALIBRATION":
            per_annotator_items[a["annotator_id"]][a["item_id"]] += 1
        if str(a["kind"]) in HARD_KINDS:
            hard_per_annotator[a["annotator_id"]] += 1
    repeated = {ann: [i for i, n in items.items() if n > 1] for ann, items in per_annotator_items.items()}
    repeated = {ann: items for ann, items in repeated.items() if items}

    models_sorted = sorted(models, key=lambda m: _seconds(m["created_at"]))
    model_points = [
        {
            "model_version": m["model_version"],
            "validation_metric": float(m["validation_metric"]),
            "metric_name": m["validation_metric_name"],
            "trained_on_release": m.get("trained_on_release"),
            "labels_used": float((m.get("metrics") or {}).get("training_labels", 0.0)),
            "online": {
                k.removeprefix("online:"): float(v)
                for k, v in (m.get("metrics") or {}).items()
                if k.startswith("online:")
            },
        }
        for m in models_sorted
    ]
    scored_versions = Counter(str(s.get("model_version")) for s in scores)
    time_per_item = [
        (_seconds(label["submitted_at"]) - _seconds(label["started_at"]), label["annotator_id"])
        for label in labels
        if label.get("status") == "LABELED"
    ]
    release_dirs = sorted(str(p.parent) for p in (state_dir / "releases").glob("*/manifest.json"))
    manifests = [json.loads(Path(d, "manifest.json").read_text()) for d in release_dirs]
    noise = _label_error_rate(release_dirs[-1] if release_dirs else None, data)
    return {
        "items_streamed": feeder.total,
        "items_scored": len({s["item_id"] for s in scores}),
        "scores_by_model_version": dict(scored_versions),
        "candidates_by_reason": dict(Counter(str(c["reason"]) for c in candidates)),
        "assignments": len(assignments),
        "assignments_by_kind": dict(kinds),
        "random_share": kinds.get("RANDOM", 0) / len(assignments) if assignments else 0.0,
        "hard_per_annotator": dict(hard_per_annotator),
        "items_twice_with_one_annotator": repeated,
        "labels": len(labels),
        "labels_by_status": dict(Counter(str(label.get("status")) for label in labels)),
        "labels_per_annotator": dict(Counter(label["annotator_id"] for label in labels)),
        "time_per_item": time_per_item,
        # Calibration labels re-ask tough items on purpose: they are not overlap agreement.
        "label_events": [
            (_seconds(label["submitted_at"]), label["item_id"], label["annotator_id"], label.get("value"))
            for label in labels
            if kind_of.get(label["assignment_id"]) != "CALIBRATION"
        ],
        "calibration_events": [
            {
                "items": len(c.get("items") or []),
                "at": _seconds(c["detected_at"]) if "detected_at" in c else None,
            }
            for c in calibration
        ],
        "models": model_points,
        "releases_announced": len(releases),
        "release_dirs": release_dirs,
        "manifests": manifests,
        "dead_letters": len(dead),
        "label_error_rate": noise,
        "random_baseline": _random_baseline(settings, data, model_points, noise=noise, seeds=BASELINE_SEEDS),
        "metric_name": settings.trainer.metric,
        "validation_file": str(data.validation_file),
    }


def _label_error_rate(release_dir: str | None, data: DemoData) -> float:
    """Share of the last release's consolidated labels that disagree with the answer key: the noise the
    simulated annotators (one of them drifting) put into what the loop trained on."""
    if release_dir is None:
        return 0.0
    import pyarrow.parquet as pq

    truth = dict(zip(data.stream_ids, data.stream_labels, strict=True))
    table = pq.read_table(Path(release_dir) / "items.parquet", columns=["item_id", "label"])
    pairs = [
        (truth[i], label)
        for i, label in zip(
            table.column("item_id").to_pylist(), table.column("label").to_pylist(), strict=True
        )
        if label is not None and i in truth
    ]
    return sum(t != label for t, label in pairs) / len(pairs) if pairs else 0.0


def _random_baseline(
    settings: AlstreamSettings,
    data: DemoData,
    model_points: list[dict[str, Any]],
    *,
    noise: float,
    seeds: int,
) -> list[dict[str, float]]:
    """The trainer's committee on the seed set + k random stream items, for the loop's label counts.

    Fair to the loop: the same committee, metric and validation set, and the random items' labels are
    wrong as often as the loop's released labels were (``noise``), since the same annotators would have
    labeled them. Averaged over ``seeds`` draws.
    """
    validation = load_npz(data.validation_file)
    seed_set = load_npz(data.seed_file)
    features = np.asarray(data.stream_features, dtype=np.float64)
    truth = np.asarray(data.stream_labels)
    classes = np.unique(truth)
    metric = settings.trainer.metric
    counts = sorted({int(p["labels_used"]) for p in model_points} | {0})
    curve = []
    for count in counts:
        values = []
        for seed in range(seeds):
            rng = np.random.default_rng(seed)
            pick = rng.choice(len(truth), size=min(count, len(truth)), replace=False)
            labels = truth[pick].copy()
            flip = rng.random(len(pick)) < noise
            for i in np.flatnonzero(flip):
                labels[i] = rng.choice(classes[classes != labels[i]])
            x = np.vstack([seed_set.embeddings, features[pick]])
            y = np.concatenate([seed_set.labels.astype(str), labels])
            bundle = fit_committee(x, y, members=settings.trainer.committee, random_state=seed)
            values.append(evaluate(bundle, validation)[metric])
        curve.append({"labels": float(count), "metric": float(np.mean(values))})
    return curve


def _charts(facts: dict[str, Any], output_dir: Path) -> dict[str, str]:
    charts: dict[str, str] = {}
    # Learning curve: the loop's model versions against random labeling of the same number of items.
    fig, ax = plt.subplots(figsize=(6, 4))
    loop = [(p["labels_used"], p["validation_metric"]) for p in facts["models"]]
    if loop:
        ax.plot(*zip(*loop, strict=True), marker="o", label="alstream loop (model versions)")
    base = [(p["labels"], p["metric"]) for p in facts["random_baseline"]]
    if base:
        ax.plot(
            *zip(*base, strict=True),
            marker="s",
            linestyle="--",
            label=f"random labeling (same committee, {facts['label_error_rate']:.0%} label noise)",
        )
    ax.set_xlabel("stream labels used for training (beyond the seed set)")
    ax.set_ylabel(f"validation {facts['metric_name']} (fixed validation set)")
    ax.set_title("Learning curve")
    ax.grid(alpha=0.3)
    ax.legend()
    charts["learning_curve"] = _save(fig, output_dir / "learning_curve.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    by_annotator: dict[str, list[float]] = defaultdict(list)
    for seconds, annotator in facts["time_per_item"]:
        by_annotator[annotator].append(seconds)
    for annotator, values in sorted(by_annotator.items()):
        ax.hist(values, bins=30, alpha=0.5, label=annotator)
    ax.set_xlabel("time per item (s)")
    ax.set_ylabel("labels")
    ax.set_title("Time per item by annotator")
    if by_annotator:
        ax.legend()
    charts["time_per_item"] = _save(fig, output_dir / "time_per_item.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    times, rates = _disagreement_over_time(facts["label_events"])
    if times:
        ax.plot(times, rates, marker=".", label="disagreement on overlapped items")
    for event in facts["calibration_events"]:
        if event["at"] is not None and facts["label_events"]:
            ax.axvline(
                event["at"] - min(t for t, *_ in facts["label_events"]),
                color="red",
                linestyle=":",
                label="calibration event",
            )
    ax.set_xlabel("seconds since the first label")
    ax.set_ylabel("share of overlapped items with disagreeing labels")
    ax.set_title("Agreement over time")
    ax.grid(alpha=0.3)
    handles, names = ax.get_legend_handles_labels()
    if handles:
        unique = dict(zip(names, handles, strict=True))
        ax.legend(unique.values(), unique.keys())
    charts["agreement"] = _save(fig, output_dir / "agreement_over_time.png")
    return charts


def _disagreement_over_time(
    events: list[tuple[float, str, str, Any]], buckets: int = 12
) -> tuple[list[float], list[float]]:
    by_item: dict[str, list[tuple[float, Any]]] = defaultdict(list)
    for at, item_id, _, value in events:
        if value is not None:
            by_item[item_id].append((at, value))
    overlapped = [
        (max(t for t, _ in votes), len({v for _, v in votes}) > 1)
        for votes in by_item.values()
        if len(votes) > 1
    ]
    if not overlapped or not events:
        return [], []
    start = min(t for t, *_ in events)
    end = max(t for t, _ in overlapped)
    edges = np.linspace(start, end + 1e-6, buckets + 1)
    times, rates = [], []
    for low, high in itertools.pairwise(edges):
        window = [d for t, d in overlapped if low <= t < high]
        if window:
            times.append(float((low + high) / 2 - start))
            rates.append(sum(window) / len(window))
    return times, rates


def _save(fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def _curve_rows(facts: dict[str, Any]) -> list[str]:
    random_at = {int(p["labels"]): p["metric"] for p in facts["random_baseline"]}
    return [
        f"| {p['model_version']} | {p['labels_used']:.0f} | {p['validation_metric']:.3f} "
        f"| {random_at.get(int(p['labels_used']), float('nan')):.3f} |"
        for p in facts["models"]
    ]


def _online_rows(facts: dict[str, Any]) -> list[str]:
    """The trainer's own loop-vs-random measurement on held-out random-slice labels, when it had one."""
    measured = [p for p in facts["models"] if p.get("online")]
    if not measured:
        return [
            "The trainer's online proof (loop vs random on held-out random-slice labels) was not measured "
            "in this run: too few random-slice labels were held out.",
            "",
        ]
    o = measured[-1]["online"]
    return [
        "## Online proof (the trainer, on held-out random-slice labels)",
        "",
        f"On {o['eval_labels']:.0f} held-out random-slice labels, "
        f"with {o['training_labels']:.0f} labels each: "
        f"loop {o['loop']:.3f}, random {o['random']:.3f} (loop - random {o['advantage']:+.3f}); "
        f"the served model {o['served']:.3f}.",
        "",
    ]


def write_report(*, facts: dict[str, Any], output_dir: Path) -> Path:
    charts = _charts(facts, output_dir)
    first = facts["models"][0]["validation_metric"] if facts["models"] else None
    last = facts["models"][-1]["validation_metric"] if facts["models"] else None
    candidate_count = sum(facts["candidates_by_reason"].values())
    candidates_by_reason = ", ".join(f"{k} {v}" for k, v in sorted(facts["candidates_by_reason"].items()))
    assignments_by_kind = ", ".join(f"{k} {v}" for k, v in sorted(facts["assignments_by_kind"].items()))
    labels_by_status = ", ".join(f"{k} {v}" for k, v in sorted(facts["labels_by_status"].items()))
    hard_per_annotator = ", ".join(f"{k} {v}" for k, v in sorted(facts["hard_per_annotator"].items())) or "-"
    items_twice = sum(len(v) for v in facts["items_twice_with_one_annotator"].values())
    calibration_items = ", ".join(str(e["items"]) for e in facts["calibration_events"]) or "-"
    first_accuracy = first if first is None else f"{first:.3f}"
    last_accuracy = last if last is None else f"{last:.3f}"
    lines = [
        "# alstream demo report",
        "",
        "| measure | value |",
        "|---|---|",
        f"| items streamed | {facts['items_streamed']} |",
        f"| items scored | {facts['items_scored']} |",
        f"| candidates | {candidate_count} ({candidates_by_reason}) |",
        f"| assignments | {facts['assignments']} ({assignments_by_kind}) |",
        f"| random share of assignments | {facts['random_share']:.1%} |",
        f"| labels | {facts['labels']} ({labels_by_status}) |",
        f"| hard items per annotator | {hard_per_annotator} |",
        f"| items given twice to one annotator (calibration excepted) | {items_twice} |",
        f"| calibration events | {len(facts['calibration_events'])} (items: {calibration_items}) |",
        f"| model versions | {len(facts['models'])} |",
        f"| validation {facts['metric_name']}, first model -> last | {first_accuracy} -> {last_accuracy} |",
        f"| releases | {len(facts['release_dirs'])} |",
        f"| dead letters | {facts['dead_letters']} |",
        "",
        "## Learning curve: the loop against random labeling",
        "",
        f"![learning curve]({charts['learning_curve']})",
        "",
        f"The random curve trains the same committee on the seed set plus as many random stream items, "
        f"their labels wrong as often as the loop's released labels were "
        f"({facts['label_error_rate']:.1%}), averaged over {BASELINE_SEEDS} draws.",
        "",
        "| model version | stream labels used | validation metric | random labeling, same labels |",
        "|---|---|---|---|",
        *_curve_rows(facts),
        "",
        *_online_rows(facts),
        "## Time per item",
        "",
        f"![time per item]({charts['time_per_item']})",
        "",
        "## Agreement over time",
        "",
        f"![agreement]({charts['agreement']})",
        "",
        "## Releases",
        "",
        *[f"- `{d}`" for d in facts["release_dirs"]],
        "",
    ]
    path = output_dir / "report.md"
    path.write_text("\n".join(lines))
    (output_dir / "facts.json").write_text(
        json.dumps(
            {k: v for k, v in facts.items() if k not in ("time_per_item", "label_events")},
            indent=2,
            default=str,
        )
    )
    return path
