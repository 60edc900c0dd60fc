"""Applying a policy: version bump required, at most one change a week unless forced, every change recorded.

The guide's rule "changing selection weekly: you cannot read trends" is enforced here, not left to
discipline. The history is an append-only JSON-lines file under ``settings.paths.state_dir``; the
active policy is a copy of the applied file next to it, which the scorer reads when no
``paths.policy_file`` is set.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import tomli_w

from alstream.agents.selection.exceptions import PolicyChangeRefused
from alstream.agents.selection.policy import Policy, load_policy

HISTORY_FILE = "policy-history.jsonl"
ACTIVE_FILE = "policy-active.toml"
MIN_INTERVAL = timedelta(days=7)


@dataclass(frozen=True)
class ApplyResult:
    policy: Policy
    changed: bool
    forced: bool
    message: str


def history_path(state_dir: Path) -> Path:
    return Path(state_dir) / HISTORY_FILE


def active_path(state_dir: Path) -> Path:
    return Path(state_dir) / ACTIVE_FILE


def read_history(state_dir: Path) -> list[dict[str, Any]]:
    """Every recorded change, oldest first."""
    path = history_path(state_dir)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def active_policy(state_dir: Path) -> Policy | None:
    """The policy last applied under ``state_dir``, if any."""
    path = active_path(state_dir)
    return load_policy(path) if path.exists() else None


def apply_policy(
    policy_file: Path | str,
    *,
    state_dir: Path | str,
    force: bool = False,
    reason: str = "",
    now: datetime | None = None,
) -> ApplyResult:
    """Make ``policy_file`` the active policy, or raise :class:`PolicyChangeRefused` saying why."""
    source = Path(policy_file)
    policy = load_policy(source)
    state = Path(state_dir)
    when = now or datetime.now(UTC)
    history = read_history(state)
    current = history[-1] if history else None
    if current and current["fingerprint"] == policy.fingerprint():
        return ApplyResult(
            policy, changed=False, forced=False, message=f"policy {policy.version} is already active"
        )
    for entry in history:
        if (
            entry["version"] == policy.version
            and entry["content_fingerprint"] != policy.content_fingerprint()
        ):
            raise PolicyChangeRefused(
                f"policy version {policy.version} was already applied on {entry['applied_at']} "
                "with different content: bump `version` in the file (every change needs a new version)"
            )
    forced = False
    if current:
        last = datetime.fromisoformat(current["applied_at"])
        if when - last < MIN_INTERVAL:
            if not force:
                raise PolicyChangeRefused(
                    f"the active policy {current['version']} was applied on {current['applied_at']}, "
                    f"less than {MIN_INTERVAL.days} days ago; changing selection more often than weekly "
                    "makes trends unreadable. Wait, or pass --force (recorded in the history)."
                )
            forced = True
    state.mkdir(parents=True, exist_ok=True)
    record = {
        "applied_at": when.isoformat(),
        "version": policy.version,
        "previous_version": current["version"] if current else None,
        "goal": policy.goal,
        "signal": policy.signal_name,
        "fingerprint": policy.fingerprint(),
        "content_fingerprint": policy.content_fingerprint(),
        "source": str(source.resolve()),
        "forced": forced,
        "reason": reason,
        "user": os.environ.get("USER", ""),
    }
    tmp = active_path(state).with_suffix(".tmp")
    tmp.write_text(_as_toml(policy), encoding="utf-8")
    tmp.replace(active_path(state))
    with history_path(state).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, sort_keys=True) + "\n")
    verb = "forced" if forced else "applied"
    return ApplyResult(policy, changed=True, forced=forced, message=f"policy {policy.version} {verb}")


def _as_toml(policy: Policy) -> str:
    """Serialise a policy as TOML (absolute paths) so the active copy is self-contained."""
    body = _drop_none(policy.model_dump(mode="json", exclude_none=True))
    header = "# Active selection policy, written by `alstream policy apply`. Do not edit: apply a new file.\n"
    return header + tomli_w.dumps(body)


def _drop_none(value: Any) -> Any:
    """TOML has no null: absent means default (signal parameters such as ``class_index = None``)."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value
