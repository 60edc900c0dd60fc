"""``alstream agent tool-gateway``: the one door between annotation tools and the shared topics.

Consumes every configured tool's intake topics (``P tool.<tool>.labels``, ``P tool.<tool>.annotator-events``)
and the shared assignments topic as one consumer group. At start it reads the shared labels topic to
its end, so every label id it already forwarded stays bound to its first content across restarts.
Needs ``[identity] tools``; run it wherever tools are bound to principals (docs/security.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from alstream.agents.launch import launch
from alstream.agents.tool_gateway.processor import LabelIdRegistry, ToolGatewayProcessor
from alstream.exceptions import ConfigError
from alstream.security.identity import DELIVERY_SCHEMA, DELIVERY_TOPIC, INTAKE_TOPICS, tool_topic
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import codec_for
from alstream.streams.exceptions import DecodeError
from alstream.streams.reading import read_to_end
from alstream.streams.runtime import AgentRuntime
from alstream.streams.stopping import StopFlag

AGENT = "tool-gateway"
log = logging.getLogger(__name__)


def setup(settings: AlstreamSettings) -> Callable[[AgentRuntime], None]:
    """The gateway over every tool's topics; refuses to start without ``[identity] tools``."""
    identity = settings.identity
    if not identity.enforced:
        raise ConfigError(
            "the tool gateway needs [identity] tools (tool name -> annotator ids it may act for), e.g. "
            'ALSTREAM_IDENTITY__TOOLS=\'{"labeling-tool": ["ann-*"]}\''
        )

    def build(runtime: AgentRuntime) -> None:
        kafka = settings.kafka
        prefix = kafka.topic_prefix
        intake = [tool_topic(prefix, tool, base) for tool in sorted(identity.tools) for base in INTAKE_TOPICS]
        delivery = [tool_topic(prefix, tool, DELIVERY_TOPIC) for tool in sorted(identity.tools)]
        written = [kafka.topic(base) for base in INTAKE_TOPICS] + delivery
        partitions = _partition_counts(runtime, written)
        codecs = {
            name: codec_for(name, settings) for name in (*INTAKE_TOPICS, DELIVERY_TOPIC, DELIVERY_SCHEMA)
        }
        registry = LabelIdRegistry()
        label_codec = codecs["labels"]

        def restore(messages: list[Any]) -> None:
            for message in messages:
                value = message.value()
                if value is None:
                    continue
                try:
                    registry.restore(label_codec.decode(value))
                except DecodeError:
                    continue  # the labels agent dead-letters it; it binds no label id

        count = read_to_end(settings, [kafka.topic("labels")], restore, agent=AGENT, stop=runtime.stopping)
        log.info("tool gateway: %d label ids bound from %d labels; tools %s", len(registry), count, intake)
        processor = ToolGatewayProcessor(
            identity=identity,
            topic_prefix=prefix,
            codecs=codecs,
            partitions=partitions,
            max_id_length=settings.ingest.max_id_length,
            label_ids=registry,
        )
        runtime.consume(
            topics=[*intake, kafka.topic(DELIVERY_TOPIC)],
            group_id=kafka.group_id(settings.tool_gateway.group_id),
            processor=processor,
            batch_size=settings.tool_gateway.batch_size,
        )

    return build


def _partition_counts(runtime: AgentRuntime, topics: list[str]) -> dict[str, int]:
    """Partition count of each topic the gateway writes; a missing one is a ConfigError naming the fix."""
    metadata = runtime.producer.list_topics(timeout=30)
    counts: dict[str, int] = {}
    for topic in topics:
        described = metadata.topics.get(topic)
        if described is None or not described.partitions:
            raise ConfigError(f"topic {topic} does not exist: run `alstream topics create` (with [identity])")
        counts[topic] = len(described.partitions)
    return counts


def run(settings: AlstreamSettings, *, stop: StopFlag | None = None) -> None:
    """Block until SIGTERM / SIGINT (or ``stop`` is set), serving metrics on settings.metrics.port."""
    launch(settings, agent=AGENT, setup=setup, stop=stop)
