"""What `alstream status` shows an operator: the broker, the topics, each agent, lag, pool and annotators.

Every source is read from the outside, as an operator would: one metadata request to the broker, each
agent's /metrics endpoint, the agents' committed offsets against the partitions' ends, and the router's
compacted ``router-status`` topic (its latest view of every shard and annotator). A source that does
not answer is reported as such; it never stops the rest of the report.
"""

from __future__ import annotations

import time
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from confluent_kafka.admin import AdminClient
from prometheus_client.parser import text_string_to_metric_families

from alstream.agents.router.status import AnnotatorView, PoolView, annotator_views, pool_view
from alstream.exceptions import AlstreamError
from alstream.observability.metrics import AGENT_PORT_OFFSETS
from alstream.observability.retention import retention_warnings
from alstream.security.acl import agent_groups
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import codec_for
from alstream.streams.kafka_config import admin_config, consumer_config
from alstream.streams.reading import end_offsets, read_to_end
from alstream.streams.topics import CATALOGUE

STATUS_TOPIC = "router-status"


def agent_sources(settings: AlstreamSettings) -> dict[str, list[str]]:
    """The topics each agent consumes in its consumer group (base names); its lag is measured on them."""
    trainer = ["releases", "labels"] if settings.trainer.retrain_every_labels else ["releases"]
    return {
        "scorer": ["items"],
        "router": ["candidates", "annotator-events", "labels"],
        "labels": ["labels"],
        "agreement": ["labels"],
        "release": ["labels", "assignments", "candidates"],  # the release ledger's cursor
        "trainer": trainer,
    }


@dataclass
class BrokerRow:
    bootstrap: str
    reachable: bool
    brokers: int = 0
    error: str | None = None


@dataclass
class TopicRow:
    topic: str
    expected_partitions: int
    partitions: int | None  # None: missing
    cleanup: str


@dataclass
class AgentRow:
    agent: str
    url: str
    up: bool
    detail: str
    last_progress_age_s: float | None = None


@dataclass
class LagRow:
    agent: str
    group: str
    topic: str
    lag: int | None  # None: the group has committed nothing on this topic yet
    partitions: int


@dataclass
class StatusReport:
    generated_at: datetime
    broker: BrokerRow
    topics: list[TopicRow] = field(default_factory=list)
    agents: list[AgentRow] = field(default_factory=list)
    lag: list[LagRow] = field(default_factory=list)
    pool: PoolView | None = None
    expected_shards: int | None = None
    annotators: list[AnnotatorView] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # sources that could not be read, and why

    def to_json(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def default_metrics_urls(settings: AlstreamSettings, host: str) -> dict[str, str]:
    return {
        agent: f"http://{host}:{settings.metrics.base_port + offset}/metrics"
        for agent, offset in AGENT_PORT_OFFSETS.items()
    }


def collect(
    settings: AlstreamSettings, *, metrics_urls: dict[str, str], timeout_s: float = 5.0
) -> StatusReport:
    report = StatusReport(generated_at=datetime.now(tz=UTC), broker=_broker(settings, timeout_s))
    report.agents = [_agent(agent, url, timeout_s) for agent, url in metrics_urls.items()]
    if not report.broker.reachable:
        report.problems.append("broker unreachable: topics, lag, pool and annotators not read")
        return report
    existing = _partition_counts(settings, timeout_s)
    report.topics = [
        TopicRow(
            topic=settings.kafka.topic(spec.base_name),
            expected_partitions=spec.partitions,
            partitions=existing.get(settings.kafka.topic(spec.base_name)),
            cleanup=spec.cleanup_policy,
        )
        for spec in CATALOGUE
    ]
    report.expected_shards = existing.get(settings.kafka.topic("candidates"))
    try:
        report.lag = _lag(settings, existing, timeout_s)
    except (KafkaException, AlstreamError) as exc:
        report.problems.append(f"consumer lag not read: {exc}")
    try:  # records a reader still needs, close to their topic's retention (or already gone)
        report.problems += retention_warnings(
            settings,
            [(row.agent, row.group, row.topic, row.partitions) for row in report.lag if row.lag],
            timeout_s=timeout_s,
        )
    except (KafkaException, AlstreamError) as exc:
        report.problems.append(f"retention not checked: {exc}")
    status_topic = settings.kafka.topic(STATUS_TOPIC)
    if status_topic not in existing:
        report.problems.append(f"{status_topic} does not exist: run `alstream topics create`")
        return report
    try:
        records = _read_compacted(settings, status_topic, timeout_s)
    except (KafkaException, AlstreamError) as exc:
        report.problems.append(f"{status_topic} not read: {exc}")
        return report
    report.pool = pool_view(records)
    report.annotators = annotator_views(records)
    return report


def _broker(settings: AlstreamSettings, timeout_s: float) -> BrokerRow:
    from alstream.security.preflight import ClusterAccessError, require_access

    bootstrap = settings.kafka.bootstrap_servers or ""
    try:
        return BrokerRow(
            bootstrap=bootstrap, reachable=True, brokers=require_access(settings, timeout_s=timeout_s)
        )
    except ClusterAccessError as exc:
        return BrokerRow(bootstrap=bootstrap, reachable=False, error=str(exc))


def _partition_counts(settings: AlstreamSettings, timeout_s: float) -> dict[str, int]:
    metadata = AdminClient(admin_config(settings)).list_topics(timeout=timeout_s)
    return {name: len(topic.partitions) for name, topic in metadata.topics.items()}


def _agent(agent: str, url: str, timeout_s: float) -> AgentRow:
    """Up when its /metrics answers and its processing loop says so (``alstream_agent_up``)."""
    try:
        with urllib.request.urlopen(url, timeout=min(timeout_s, 3.0)) as response:
            text = response.read().decode("utf-8", errors="replace")
    except (OSError, ValueError) as exc:
        return AgentRow(agent=agent, url=url, up=False, detail=f"no answer ({_short(exc)})")
    up: float | None = None
    progress: float | None = None
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("agent") != agent:
                continue
            if sample.name == "alstream_agent_up":
                up = sample.value
            elif sample.name == "alstream_agent_last_progress_timestamp_seconds" and sample.value > 0:
                progress = sample.value
    age = None if progress is None else max(0.0, time.time() - progress)
    if up is None:
        return AgentRow(agent=agent, url=url, up=False, detail="answers, but is not this agent")
    if up < 1:
        return AgentRow(agent=agent, url=url, up=False, detail="loop stopped", last_progress_age_s=age)
    return AgentRow(agent=agent, url=url, up=True, detail="up", last_progress_age_s=age)


def _short(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason if reason is not None else exc).splitlines()[0][:80]


def _lag(settings: AlstreamSettings, existing: dict[str, int], timeout_s: float) -> list[LagRow]:
    """Committed offsets of each agent's group against the partitions' true ends."""
    groups = agent_groups(settings)
    wanted: list[tuple[str, str, str]] = []  # (agent, group, topic)
    for agent, topics in agent_sources(settings).items():
        for base in topics:
            topic = settings.kafka.topic(base)
            if topic in existing:
                wanted.append((agent, groups[agent], topic))
    partitions = {topic: existing[topic] for _, _, topic in wanted}
    wanted_partitions = [(topic, p) for topic, count in partitions.items() for p in range(count)]
    ends = end_offsets(settings, wanted_partitions, agent="status", patience_s=timeout_s, timeout_s=timeout_s)
    rows = []
    for agent, group, topic in wanted:
        committed = _committed(settings, group, topic, partitions[topic], timeout_s)
        known = [(p, offset) for p, offset in committed.items() if offset >= 0]
        lag = sum(max(0, ends[(topic, p)] - offset) for p, offset in known) if known else None
        if known and len(known) < partitions[topic]:  # partitions never committed: all their records wait
            lag = (lag or 0) + sum(ends[(topic, p)] for p in committed if committed[p] < 0)
        rows.append(LagRow(agent=agent, group=group, topic=topic, lag=lag, partitions=partitions[topic]))
    return rows


def _committed(
    settings: AlstreamSettings, group: str, topic: str, count: int, timeout_s: float
) -> dict[int, int]:
    """The group's committed offset per partition (-1 where it has none). Does not join the group."""
    consumer = Consumer(consumer_config(settings, group_id=group) | {"enable.auto.commit": False})
    try:
        found = consumer.committed([TopicPartition(topic, p) for p in range(count)], timeout=timeout_s)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in found}


def _read_compacted(settings: AlstreamSettings, topic: str, timeout_s: float) -> list[dict[str, Any]]:
    """The latest record per key of a compacted topic, read from the start to each partition's end."""
    codec = codec_for(STATUS_TOPIC, settings)
    latest: dict[bytes, dict[str, Any] | None] = {}

    def keep(messages: list[Message]) -> None:
        for message in messages:
            key = message.key() or b""
            value = message.value()
            if value is None:
                latest[key] = None  # a tombstone deletes the key
                continue
            try:
                latest[key] = codec.decode(value)
            except AlstreamError:
                continue  # not a status record: nothing to show for it

    read_to_end(settings, [topic], keep, agent="status", patience_s=max(timeout_s, 10.0))
    return [record for record in latest.values() if record is not None]
