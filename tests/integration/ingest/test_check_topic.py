"""ItemProducer.check_topic fails fast, naming what to fix, instead of leaving items pending."""

from __future__ import annotations

import pytest

from alstream.ingest import ItemProducer
from alstream.ingest.exceptions import TopicUnavailable
from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.embedded_broker import free_port

pytestmark = pytest.mark.broker


def test_existing_items_topic_passes(topics: AlstreamSettings) -> None:
    with ItemProducer(settings=topics) as producer:
        producer.check_topic()
        assert producer.send_many([{"item_id": "after-check", "source": "t", "embedding": [0.5] * 64}]) == []
    assert producer.close(30).acknowledged == 1


def test_missing_topic_names_the_command_that_creates_it(settings: AlstreamSettings) -> None:
    with ItemProducer(settings=settings) as producer, pytest.raises(TopicUnavailable) as raised:
        producer.check_topic()
    assert settings.kafka.topic("items") in str(raised.value)
    assert "alstream topics create" in str(raised.value)


def test_unreachable_cluster_names_the_setting() -> None:
    nowhere = load_settings(kafka={"bootstrap_servers": f"127.0.0.1:{free_port()}"})
    with ItemProducer(settings=nowhere) as producer, pytest.raises(TopicUnavailable) as raised:
        producer.check_topic(timeout_s=2)
    assert "KAFKA_BOOTSTRAP_SERVERS" in str(raised.value)
