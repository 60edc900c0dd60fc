"""Disagreement spike detection: the current window against a trailing baseline.

Each completed overlapped item is one Bernoulli observation (did its annotators disagree?). The last
``window_items`` observations form the window, up to ``baseline_items`` before them the baseline. A spike
needs all of:

* enough data: a full window and at least ``min_baseline_items`` baseline items (minimum sample size);
* statistical evidence: the one-sided pooled two-proportion z score is at least ``z_threshold``
  (sensitivity), so a noisy stationary stream does not alarm;
* practical size: the window rate exceeds the baseline by at least ``min_rate_increase``, so a very
  quiet baseline does not turn a few extra disagreements into a calibration session;
* persistence: the evidence held for ``persistence_items`` consecutive observations (a noisy window
  crosses a threshold briefly, a real shift stays above it);
* no spike already active, and at least ``cooldown_items`` observations since the last one, so it does
  not flap: one persisting problem calls one calibration session.

The spike stays *active* (the gauge) until the window is back within half ``min_rate_increase`` of the
baseline it fired against, or the trailing baseline has absorbed the new level (a new normal). While
active it cannot fire again, so an ongoing drift calls one session, not one per cooldown.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alstream.agents.agreement.config import AgreementSettings


@dataclass(frozen=True)
class SpikeDecision:
    """The detector's view after one observation."""

    fired: bool
    active: bool
    window_rate: float | None
    baseline_rate: float | None
    z_score: float | None
    window_size: int
    baseline_size: int
    evidence: str


def two_proportion_z(window_hits: int, window_n: int, base_hits: int, base_n: int) -> float:
    """One-sided pooled z score of window rate > baseline rate (0 when the pooled rate is degenerate)."""
    pooled = (window_hits + base_hits) / (window_n + base_n)
    variance = pooled * (1 - pooled) * (1 / window_n + 1 / base_n)
    if variance <= 0:
        return 0.0
    return (window_hits / window_n - base_hits / base_n) / math.sqrt(variance)


class SpikeDetector:
    """Feeds on per-item disagreement outcomes; keeps O(window + baseline) state."""

    def __init__(
        self,
        *,
        window_items: int,
        baseline_items: int,
        min_baseline_items: int,
        z_threshold: float,
        min_rate_increase: float,
        cooldown_items: int,
        persistence_items: int = 1,
    ) -> None:
        self.window_items = window_items
        self.baseline_items = baseline_items
        self.min_baseline_items = min_baseline_items
        self.z_threshold = z_threshold
        self.min_rate_increase = min_rate_increase
        self.cooldown_items = cooldown_items
        self.persistence_items = persistence_items
        self._significant_run = 0
        self._history: deque[bool] = deque(maxlen=window_items + baseline_items)
        self._window_hits = 0
        self._base_hits = 0
        self._since_fire: int | None = None  # None: never fired
        self.active = False
        self._fired_baseline = 0.0
        self.observed = 0

    @classmethod
    def from_settings(cls, config: AgreementSettings) -> SpikeDetector:
        """The detector the ``[agreement]`` section describes (the agent and the evaluation script)."""
        return cls(
            window_items=config.window_items,
            baseline_items=config.baseline_items,
            min_baseline_items=config.min_baseline_items,
            z_threshold=config.z_threshold,
            min_rate_increase=config.min_rate_increase,
            cooldown_items=config.cooldown_items,
            persistence_items=config.persistence_items,
        )

    def _push(self, disagreed: bool) -> None:
        history = self._history
        if len(history) == history.maxlen:
            oldest = history[0]
            self._base_hits -= oldest
        if len(history) >= self.window_items:
            leaving_window = history[len(history) - self.window_items]
            self._window_hits -= leaving_window
            self._base_hits += leaving_window
        history.append(disagreed)
        self._window_hits += disagreed

    def observe(self, disagreed: bool) -> SpikeDecision:
        self._push(bool(disagreed))
        self.observed += 1
        if self._since_fire is not None:
            self._since_fire += 1
        window_n = min(len(self._history), self.window_items)
        base_n = len(self._history) - window_n
        if window_n < self.window_items or base_n < self.min_baseline_items:
            return SpikeDecision(
                False,
                self.active,
                self._window_hits / window_n,
                None,
                None,
                window_n,
                base_n,
                f"warming up: {window_n}/{self.window_items} window items, "
                f"{base_n}/{self.min_baseline_items} baseline items",
            )
        window_rate = self._window_hits / window_n
        base_rate = self._base_hits / base_n
        z = two_proportion_z(self._window_hits, window_n, self._base_hits, base_n)
        increase = window_rate - base_rate
        significant = z >= self.z_threshold and increase >= self.min_rate_increase
        self._significant_run = self._significant_run + 1 if significant else 0
        significant = self._significant_run >= self.persistence_items
        cooling = self._since_fire is not None and self._since_fire < self.cooldown_items
        fired = significant and not cooling and not self.active
        if fired:
            self._since_fire = 0
            self.active = True
            self._fired_baseline = base_rate
        elif self.active and (
            window_rate < self._fired_baseline + self.min_rate_increase / 2  # back to the pre-spike level
            or z < 0  # or the trailing baseline absorbed the new level: it is the new normal
        ):
            self.active = False
        evidence = (
            f"disagreement {window_rate:.1%} on the last {window_n} overlapped items vs baseline "
            f"{base_rate:.1%} on the {base_n} before (+{increase:.1%}); one-sided two-proportion z={z:.2f} "
            f"(threshold {self.z_threshold:g}, minimum increase {self.min_rate_increase:.0%}, "
            f"held {self._significant_run}/{self.persistence_items} items, "
            f"cooldown {self.cooldown_items} items)"
        )
        return SpikeDecision(fired, self.active, window_rate, base_rate, z, window_n, base_n, evidence)
