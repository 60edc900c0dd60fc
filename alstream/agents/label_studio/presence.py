"""Speaking for the annotators: when to say ONLINE, READY and OFFLINE to the router.

Label Studio has no notion of "ready for work", so the bridge derives it: an annotator is present while
they show activity in Label Studio (any saving action, such as opening the labeling stream or submitting)
within ``idle_timeout_s``; the bridge's start counts as activity, so everyone gets a first queue.
While present, a queue shorter than ``queue_size`` asks for the difference (READY as the queue drains);
after ``idle_timeout_s`` without activity the annotator goes OFFLINE, the router returns their open work
to the pool and the bridge takes those tasks out of their queue. Their next activity brings them back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Announcement:
    annotator_id: str
    event: str  # ONLINE, READY or OFFLINE
    ready_for: int = 0


class Presence:
    """Per-annotator presence from activity times (seconds since the epoch). Pure: the caller sends."""

    def __init__(self, *, annotator_ids: Iterable[str], idle_timeout_s: float, queue_size: int, now: float):
        self.idle_timeout_s = idle_timeout_s
        self.queue_size = queue_size
        self.last_activity = dict.fromkeys(annotator_ids, now)
        self.online = dict.fromkeys(self.last_activity, False)

    def observe(self, annotator_id: str, at: float) -> None:
        if annotator_id in self.last_activity and at > self.last_activity[annotator_id]:
            self.last_activity[annotator_id] = at

    def is_idle(self, annotator_id: str, now: float) -> bool:
        return now - self.last_activity[annotator_id] >= self.idle_timeout_s

    def decide(self, *, now: float, open_tasks: Mapping[str, int]) -> list[Announcement]:
        out: list[Announcement] = []
        for annotator_id in self.last_activity:
            idle = self.is_idle(annotator_id, now)
            if self.online[annotator_id] and idle:
                self.online[annotator_id] = False
                out.append(Announcement(annotator_id, "OFFLINE"))
                continue
            if idle:
                continue
            if not self.online[annotator_id]:
                self.online[annotator_id] = True
                out.append(Announcement(annotator_id, "ONLINE"))
            room = self.queue_size - open_tasks.get(annotator_id, 0)
            if room > 0:
                out.append(Announcement(annotator_id, "READY", ready_for=min(room, 100)))
        return out

    def counts(self) -> dict[str, int]:
        online = sum(self.online.values())
        return {"online": online, "offline": len(self.online) - online}
