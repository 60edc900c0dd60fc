"""The topic catalogue as code, and idempotent creation of it on a cluster.

Every topic is created explicitly before any client touches it: auto-created topics get the broker's
default partition count, and the router's shards need partition *p* of candidates, annotator-events,
labels and router-state to be one shard (co-partitioned counts, as the catalogue sets them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from alstream.streams.availability import health_for
from alstream.streams.config import KafkaSource, kafka_of
from alstream.streams.exceptions import BrokerError
from alstream.streams.kafka_config import admin_config

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """One topic of the catalogue. ``key`` says what the record key is; compacted topics key by identity."""

    base_name: str
    key: str
    partitions: int
    cleanup_policy: str  # "delete" or "compact"
    retention_ms: int  # -1: keep forever
    description: str
    # Who relies on how much of this topic's history: retention is part of the contract. Each reader
    # named here must read a record before it expires (`alstream status` warns when its oldest unread
    # record gets close to the retention).
    needed_by: str = ""
    # An agent's own state (a changelog): its records are that agent's business, not an Avro contract.
    internal: bool = False

    def configs(self) -> dict[str, str]:
        configs = {"cleanup.policy": self.cleanup_policy}
        if self.cleanup_policy == "delete":
            configs["retention.ms"] = str(self.retention_ms)
        return configs


CATALOGUE: tuple[TopicSpec, ...] = (
    TopicSpec(
        "items",
        "item_id",
        12,
        "delete",
        7 * DAY_MS,
        "new unlabeled items from ingestion producers",
        "the scorer, until it has scored them (its consumer group); nothing reads items later",
    ),
    TopicSpec(
        "scores",
        "item_id",
        12,
        "compact",
        -1,
        "latest score per item (policy and model version, slice/QA flags)",
        "the demo report and audits of a score: the latest per item, kept by compaction",
    ),
    TopicSpec(
        "candidates",
        "item_id",
        4,
        "delete",
        30 * DAY_MS,
        "bounded, human-rate stream of items worth routing",
        "the router (pool, restored from its changelog) and the release ledger, which copies each "
        "candidate's embedding before it expires (the release agent must run at least every 30 days)",
    ),
    TopicSpec(
        "annotator-events",
        "annotator_id",
        4,
        "delete",
        30 * DAY_MS,
        "online / offline / ready-for-N / skills",
        "the router, as they arrive (its consumer group)",
    ),
    TopicSpec(
        "assignments",
        "annotator_id",
        4,
        "delete",
        90 * DAY_MS,
        "work for annotators, consumed by annotation tools",
        "annotation tools, the labels and agreement agents (leases of open work) and the release "
        "ledger, which copies each assignment's context before it expires (release agent at least "
        "every 90 days)",
    ),
    TopicSpec(
        "labels",
        "item_id",
        4,
        "delete",
        -1,
        "human answers; the source of every release, kept forever",
        "every release from scratch (`alstream release build --full`) and the labels agent's restart",
    ),
    TopicSpec(
        "calibration",
        "window",
        1,
        "delete",
        -1,
        "disagreement spikes with their tough examples",
        "the router, which follows it whole (open calibration rounds), and the demo report",
    ),
    TopicSpec(
        "models",
        "model_name",
        1,
        "compact",
        -1,
        "model versions announced to the scorer",
        "the scorer and the trainer's gate (the latest per model name), releases (the metric at a cut-off)",
    ),
    TopicSpec(
        "releases",
        "release_id",
        1,
        "compact",
        -1,
        "dataset release manifests",
        "the trainer (each announced release once)",
    ),
    TopicSpec(
        "router-status",
        "status_key",
        4,
        "compact",
        -1,
        "the router's latest view of each annotator and shard, for `alstream status`",
        "`alstream status` (the latest record per key)",
    ),
    TopicSpec(
        "router-state",
        "shard table key",
        4,
        "compact",
        -1,
        "the router's shard tables (pool, annotators, leases): partition p is shard p's changelog; keep "
        "the partition count of candidates, annotator-events and labels",
        "the router's restore (its checkpoint plus the changelog written after it)",
        internal=True,
    ),
    TopicSpec(
        "dead-letters",
        "original key",
        4,
        "delete",
        90 * DAY_MS,
        "records an agent could not process, with why",
        "operators (`alstream dead-letters`) and the labels agent's restart: 90 days to act on one",
    ),
)


def spec(base_name: str) -> TopicSpec:
    for topic in CATALOGUE:
        if topic.base_name == base_name:
            return topic
    raise KeyError(f"{base_name!r} is not in the topic catalogue")


def create_topics(
    source: KafkaSource,
    *,
    specs: tuple[TopicSpec, ...] = CATALOGUE,
    partitions_override: int | None = None,
    timeout_s: float = 30.0,
) -> dict[str, str]:
    """Create the catalogue's topics; existing ones are left alone. Returns name -> "created" / "exists"."""
    kafka = kafka_of(source)
    admin = AdminClient(admin_config(kafka))
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    wanted = [
        NewTopic(
            kafka.topic(topic.base_name),
            num_partitions=partitions_override or topic.partitions,
            replication_factor=kafka.replication_factor,
            config=topic.configs(),
        )
        for topic in specs
        if kafka.topic(topic.base_name) not in existing
    ]
    outcome = {kafka.topic(t.base_name): "exists" for t in specs}
    if not wanted:
        return outcome
    futures = admin.create_topics(wanted, operation_timeout=timeout_s, request_timeout=timeout_s)
    for name, future in futures.items():
        try:
            future.result()
            outcome[name] = "created"
        except KafkaException as exc:
            if exc.args and exc.args[0].code() == 36:  # TOPIC_ALREADY_EXISTS: a concurrent creator won
                outcome[name] = "exists"
            else:
                raise BrokerError(f"could not create topic {name}: {exc}") from exc
    return outcome


def list_topics(source: KafkaSource, *, timeout_s: float = 30.0) -> list[tuple[str, int]]:
    """(name, partitions) of the cluster's topics that carry this deployment's prefix."""
    kafka = kafka_of(source)
    admin = AdminClient(admin_config(kafka))
    metadata = admin.list_topics(timeout=timeout_s)
    prefix = kafka.topic_prefix
    return sorted(
        (name, len(topic.partitions)) for name, topic in metadata.topics.items() if name.startswith(prefix)
    )


def partition_counts(
    settings: KafkaSource,
    base_names: list[str],
    *,
    agent: str = "alstream",
    patience_s: float | None = None,
    stop: Callable[[], bool] | None = None,
) -> dict[str, int]:
    """Partition count of each catalogue topic (they must exist: create them with ``alstream topics``).

    Waits out broker outages (``patience_s`` None: as long as it takes)."""
    kafka = kafka_of(settings)
    existing = dict(
        health_for(agent, kafka).call(
            "list topics", lambda: list_topics(kafka, timeout_s=10.0), patience_s=patience_s, stop=stop
        )
    )
    counts = {}
    for base in base_names:
        partitions = existing.get(kafka.topic(base))
        if not partitions:
            raise BrokerError(
                f"topic {kafka.topic(base)} does not exist: run `alstream topics create` first "
                "(an auto-created topic has the broker's default partition count, not the catalogue's)"
            )
        counts[base] = partitions
    return counts
