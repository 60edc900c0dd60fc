"""RELEASE_NOTES.md from a manifest: the guide's Friday "release notes + metric snapshot".

Rendered only from the manifest, so the notes are as reproducible as the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _table(title: str, counts: Mapping[str, int]) -> list[str]:
    if not counts:
        return [f"**{title}:** none", ""]
    lines = [f"| {title} | count |", "|---|---:|"]
    lines += [f"| {key} | {value} |" for key, value in counts.items()]
    return [*lines, ""]


def render_notes(m: Mapping[str, Any]) -> str:
    lines = [
        f"# Release {m['release_id']}",
        "",
        f"- Cut-off (created): {m['created_at']}",
        f"- Parent release: {m['parent_release_id'] or 'none (first release)'}",
        f"- Labels added: {m['added_label_count']} "
        f"between {m['labels_from'] or '-'} and {m['labels_to'] or '-'}",
        f"- Items: {m['item_count']} ({m['new_item_count']} new, {m['trainable_item_count']} trainable), "
        f"from {m['label_count']} valid labels",
        f"- Selection policy version(s): {', '.join(m['policy_versions']) or '-'}",
        f"- Ranking model version(s): {', '.join(m['model_versions']) or '-'}",
        f"- Content hash: `{m['content_hash']}`",
        "",
        "## Metric snapshot",
        "",
        f"- QA error rate on the stable gold set: {_pct(m['qa_error_rate'])} over {m['qa_checks']} checks",
        f"- Agreement on {m['overlapped_items']} overlapped items: {_pct(m['agreement'])} "
        f"(Krippendorff's alpha {_num(m['krippendorff_alpha'])})",
        f"- Validation {m['validation_metric_name'] or 'metric'} of the serving model "
        f"{m['validation_model_version'] or '-'}: {_num(m['validation_metric'])}",
        "",
        *_online_proof(m),
        "## Composition",
        "",
        *_table("assignment kind", m["counts_by_kind"]),
        *_table("class", m["counts_by_class"]),
        "## Needs attention",
        "",
        *_table("adjudication reason", m["adjudication"]),
        *_table("excluded label reason", m["excluded_labels"]),
        *_table("failure root cause", m["root_causes"]),
    ]
    return "\n".join(lines).rstrip() + "\n"


def _online_proof(m: Mapping[str, Any]) -> list[str]:
    """The trainer's loop-vs-random measurement on held-out random-slice labels (docs/releases.md)."""
    proof = m.get("online_proof")
    if not proof:
        return [
            "## Online proof: loop vs random",
            "",
            "Not measured yet for the serving model (too few held-out random-slice labels).",
            "",
        ]
    name = m["validation_metric_name"] or "metric"
    advantage = proof["advantage"]
    verdict = "ahead of" if advantage > 0 else "not ahead of"
    return [
        "## Online proof: loop vs random",
        "",
        f"On {proof['eval_labels']:.0f} held-out random-slice labels (production data no model trained on), "
        f"with {proof['training_labels']:.0f} labels each, the loop is {verdict} random labeling:",
        "",
        f"| {name} | value |",
        "|---|---:|",
        f"| loop (its first {proof['training_labels']:.0f} labels) | {_num(proof['loop'])} |",
        f"| random ({proof['training_labels']:.0f} random-slice labels) | {_num(proof['random'])} |",
        f"| loop - random | {advantage:+.4f} |",
        f"| serving model (all labels) | {_num(proof['served'])} |",
        "",
    ]
