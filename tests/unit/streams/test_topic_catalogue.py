"""The topic catalogue as data: every topic has a contract, compacted topics are keyed by identity."""

from __future__ import annotations

import pytest

from alstream.streams.schemas import default_catalog
from alstream.streams.topics import CATALOGUE, spec

# what identifies a record of each compacted topic: compaction keeps the latest record per key,
# so the key must be that identity or compaction would throw away live records.
IDENTITY = {
    "scores": "item_id",
    "models": "model_name",
    "releases": "release_id",
    "router-status": "status_key",
}


def test_every_topic_has_a_schema_and_a_unique_name() -> None:
    names = [t.base_name for t in CATALOGUE]
    assert len(names) == len(set(names))
    # tool-assignments is the schema of each annotation tool's own assignments topic (security/identity.py)
    assert {t.base_name for t in CATALOGUE if not t.internal} | {"tool-assignments"} == set(
        default_catalog().topic_keys
    )


def test_internal_state_topics_are_compacted_changelogs_of_the_router() -> None:
    """An agent's own state topic: compacted (restore reads the live state), shards = its partitions."""
    internal = [t for t in CATALOGUE if t.internal]
    assert [t.base_name for t in internal] == ["router-state"]
    assert internal[0].configs() == {"cleanup.policy": "compact"}
    assert internal[0].partitions == spec("candidates").partitions == spec("annotator-events").partitions


def test_compacted_topics_are_keyed_by_their_identity() -> None:
    compacted = {t.base_name: t for t in CATALOGUE if t.cleanup_policy == "compact" and not t.internal}
    assert set(compacted) == set(IDENTITY)
    for name, topic in compacted.items():
        assert topic.key == IDENTITY[name]
        assert topic.configs() == {"cleanup.policy": "compact"}  # no time retention on compacted topics
        fields = {f["name"] for f in default_catalog().current(name).schema["fields"]}
        assert IDENTITY[name] in fields, f"{name} key {IDENTITY[name]} is not a field of its records"


def test_delete_topics_carry_retention() -> None:
    for topic in CATALOGUE:
        if topic.cleanup_policy == "delete":
            assert topic.configs()["retention.ms"] == str(topic.retention_ms)
            assert topic.retention_ms == -1 or topic.retention_ms >= 24 * 3600 * 1000
    assert spec("labels").retention_ms == -1  # labels are the source of every release: kept forever


def test_unknown_topic_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="not in the topic catalogue"):
        spec("nope")
