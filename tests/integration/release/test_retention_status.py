"""The release ledger's cursor is committed as the release group, so `alstream status` shows how far it
has read and warns when the oldest record it has not read nears the topic's retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Producer

from alstream.agents.release.service import synced_ledger
from alstream.contracts.times import to_ms
from alstream.observability.status import collect
from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.codecs import codec_for
from alstream.streams.kafka_config import producer_config
from tests.support.records import candidate

pytestmark = pytest.mark.broker


def test_status_warns_before_an_unread_candidate_expires(
    topics: AlstreamSettings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALSTREAM_PATHS__STATE_DIR", str(tmp_path))
    settings = load_settings()
    codec = codec_for("candidates", settings)
    producer = Producer(producer_config(settings))
    old = datetime.now(UTC) - timedelta(days=27)  # candidates keep 30 days; status warns from 24

    def send(item: str, at: datetime) -> None:
        producer.produce(
            settings.kafka.topic("candidates"),
            key=item,
            value=codec.encode(candidate(item, selected_at=at)),
            partition=0,
            timestamp=to_ms(at),
        )
        assert producer.flush(10) == 0

    send("read-1", old)
    synced_ledger(settings).close()  # the release agent's tick: reads it, commits its cursor
    report = collect(settings, metrics_urls={}, timeout_s=5)
    assert not [p for p in report.problems if "candidates" in p]
    lag = {(row.agent, row.topic): row.lag for row in report.lag}
    assert lag[("release", settings.kafka.topic("candidates"))] == 0

    send("unread-1", old)  # arrives while the release agent is down
    send("unread-2", datetime.now(UTC))
    report = collect(settings, metrics_urls={}, timeout_s=5)
    warnings = [p for p in report.problems if settings.kafka.topic("candidates") in p]
    assert len(warnings) == 1, report.problems
    assert "release" in warnings[0] and "27.0 days old" in warnings[0] and "keeps 30 days" in warnings[0]
