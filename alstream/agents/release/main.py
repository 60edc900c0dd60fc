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
from alstream.agents.release.metrics import RELEASE_ITEMS, RELEASE_LAST_TIMESTAMP, RELEASES
from alstream.agents.release.requests import pending
from alstream.agents.release.schedule import latest_slot, next_slot
from alstream.agents.release.service import build_and_announce, store_for
from alstream.agents.release.spool import remove_stale
from alstream.agents.release.storage import ReleaseStore
from alstream.settings import AlstreamSettings
from alstream.streams.runtime import AgentRuntime
from alstream.streams.stopping import StopFlag

log = logging.getLogger(__name__)
AGENT = "release"


class StoreMetrics:
    """The release metrics, read from the store so every release counts, whoever built it.

    ``alstream release build`` runs in its own short-lived process whose metrics nobody scrapes; the
    agent is the one long-lived process, so it reports what the store holds. Releases already stored
    when the agent starts are its baseline, not increments: a restarted counter that jumped to the
    number of all releases ever would read as that many new releases to ``increase()``.
    """

    def __init__(self) -> None:
        self.known: dict[str, str] | None = None  # release id -> created_at (its cut-off)

    def observe(self, store: ReleaseStore) -> None:
        ids = store.release_ids()
        first = self.known is None
        known = self.known if self.known is not None else {}
        new = ids - set(known)
        for release_id in new:
            known[release_id] = store.manifest(release_id)["created_at"]
        self.known = known
        if not first and new:
            RELEASES.inc(len(new))
        if known:
            latest = max(known, key=lambda release_id: (known[release_id], release_id))
            RELEASE_ITEMS.set(store.manifest(latest)["item_count"])
            RELEASE_LAST_TIMESTAMP.set(store.stored_at(latest))


class ReleaseAgent:
    """The latest weekly slot is cut whenever the store lacks it, which also catches up after downtime."""

    def __init__(self, *, settings: AlstreamSettings) -> None:
        self.settings = settings
        self.empty_slots: set[str] = set()  # weekly slots with no valid labels: not released, not re-read
        self.store_metrics = StoreMetrics()

    def tick(self, now: datetime) -> list[str]:
        """Do what is due at ``now``; returns the release ids built or re-announced."""
        done = []
        store = store_for(self.settings)
        self.store_metrics.observe(store)  # the first call sets the baseline before this tick's builds
        for path, cutoff, reason in pending(self.settings):
            log.info("release requested (%s) with cut-off %s", reason or "on demand", iso(cutoff))
            requested = build_and_announce(self.settings, cutoff=min(cutoff, now))
            assert requested is not None  # only skip_empty builds return None
            path.unlink(missing_ok=True)
            done.append(requested.release.release_id)
        if self.settings.release.weekly:
            slot = latest_slot(self.settings.release, now)
            cut = iso(slot)
            if cut not in self.empty_slots and not any(m["created_at"] == cut for m in store.manifests()):
                log.info("weekly release due (slot %s)", cut)
                outcome = build_and_announce(self.settings, cutoff=slot, skip_empty=True)
                if outcome is None:
                    self.empty_slots.add(cut or "")
                else:
                    done.append(outcome.release.release_id)
        self.store_metrics.observe(store)
        return done


def setup(settings: AlstreamSettings) -> Callable[[AgentRuntime], None]:
    """The release agent has no input loop: its tick is the runtime's idle callback. A failed tick is
    logged, counted and retried at the next one (with backoff while the broker is unreachable)."""

    def build(runtime: AgentRuntime) -> None:
        if removed := remove_stale(settings.paths.state_dir):
            log.info("removed %d build scratch directories left by killed builds", removed)
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
