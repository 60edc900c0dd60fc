"""``alstream agent release``: the weekly release plus on-demand builds, until SIGTERM.

Each tick (an idle callback of the agent runtime, every ``release.poll_interval_s``) it (1) builds every
pending request, (2) builds the latest weekly slot if no release was cut at that slot yet. A failed
build is retried on the next tick: requests are removed only after
their release is stored and announced, and the weekly slot is found again from the store itself, so
a restart neither loses nor duplicates a release.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from alstream.agents.launch import launch
from alstream.agents.release.builder import iso
from alstream.agents.release.requests import pending
from alstream.agents.release.schedule import latest_slot, next_slot
from alstream.agents.release.service import build_and_announce, store_for
from alstream.settings import AlstreamSettings
from alstream.streams.runtime import AgentRuntime
from alstream.streams.stopping import StopFlag

log = logging.getLogger(__name__)
AGENT = "release"


class ReleaseAgent:
    """The latest weekly slot is cut whenever the store lacks it, which also catches up after downtime."""

    def __init__(self, *, settings: AlstreamSettings) -> None:
        self.settings = settings
        self.empty_slots: set[str] = set()  # weekly slots with no valid labels: not released, not re-read

    def tick(self, now: datetime) -> list[str]:
        """Do what is due at ``now``; returns the release ids built or re-announced."""
        done = []
        for path, cutoff, reason in pending(self.settings):
            log.info("release requested (%s) with cut-off %s", reason or "on demand", iso(cutoff))
            requested = build_and_announce(self.settings, cutoff=min(cutoff, now))
            assert requested is not None  # only skip_empty builds return None
            path.unlink(missing_ok=True)
            done.append(requested.release.release_id)
        if self.settings.release.weekly:
            slot = latest_slot(self.settings.release, now)
            cut = iso(slot)
            if cut not in self.empty_slots and not any(
                m["created_at"] == cut for m in store_for(self.settings).manifests()
            ):
                log.info("weekly release due (slot %s)", cut)
                outcome = build_and_announce(self.settings, cutoff=slot, skip_empty=True)
                if outcome is None:
                    self.empty_slots.add(cut or "")
                else:
                    done.append(outcome.release.release_id)
        return done


def setup(settings: AlstreamSettings) -> Callable[[AgentRuntime], None]:
    """The release agent has no input loop: its tick is the runtime's idle callback. A failed tick is
    logged, counted and retried at the next one (with backoff while the broker is unreachable)."""

    def build(runtime: AgentRuntime) -> None:
        agent = ReleaseAgent(settings=settings)
        log.info(
            "release agent up; next weekly cut-off %s", iso(next_slot(settings.release, datetime.now(UTC)))
        )
        runtime.every(
            settings.release.poll_interval_s, lambda: agent.tick(datetime.now(UTC)), what="the release tick"
        )

    return build


def run(settings: AlstreamSettings, *, stop: StopFlag | None = None) -> None:
    launch(settings, agent=AGENT, setup=setup, stop=stop)
