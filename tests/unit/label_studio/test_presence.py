"""When the bridge says ONLINE, READY and OFFLINE for an annotator."""

from __future__ import annotations

from alstream.agents.label_studio.presence import Announcement, Presence


def test_start_counts_as_activity_and_asks_for_a_full_queue() -> None:
    presence = Presence(annotator_ids=["a", "b"], idle_timeout_s=60, queue_size=5, now=0.0)
    said = presence.decide(now=1.0, open_tasks={"b": 3})
    assert said == [
        Announcement("a", "ONLINE"),
        Announcement("a", "READY", 5),
        Announcement("b", "ONLINE"),
        Announcement("b", "READY", 2),
    ]
    assert presence.decide(now=2.0, open_tasks={"a": 5, "b": 4}) == [Announcement("b", "READY", 1)]


def test_idle_annotators_go_offline_once_and_come_back_on_activity() -> None:
    presence = Presence(annotator_ids=["a"], idle_timeout_s=60, queue_size=2, now=0.0)
    presence.decide(now=1.0, open_tasks={})
    presence.observe("a", 30.0)
    assert presence.decide(now=89.0, open_tasks={"a": 2}) == []
    assert presence.decide(now=90.0, open_tasks={"a": 2}) == [Announcement("a", "OFFLINE")]
    assert presence.decide(now=200.0, open_tasks={}) == []
    assert presence.counts() == {"online": 0, "offline": 1}
    presence.observe("a", 199.0)
    assert presence.decide(now=200.0, open_tasks={}) == [
        Announcement("a", "ONLINE"),
        Announcement("a", "READY", 2),
    ]


def test_old_or_unknown_activity_changes_nothing() -> None:
    presence = Presence(annotator_ids=["a"], idle_timeout_s=60, queue_size=1, now=100.0)
    presence.observe("a", 5.0)
    presence.observe("stranger", 500.0)
    assert not presence.is_idle("a", 159.0)
    assert "stranger" not in presence.last_activity
