"""`alstream produce` and the SDK against a real broker: every valid item lands, every bad one is reported."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from alstream.cli.main import app
from alstream.ingest import ItemProducer
from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.codecs import SingleObjectCodec
from tests.support.topics import read_messages

pytestmark = pytest.mark.broker


def consume_items(settings: AlstreamSettings, expected: int, timeout_s: float = 30) -> dict[str, dict]:
    """Every item on the topic (the producer has finished: its records are all there), which must be
    ``expected`` distinct ones, each keyed by its id."""
    codec = SingleObjectCodec("items", raw_timestamps=True)
    messages = read_messages(settings, "items", timeout_s=timeout_s)
    items: dict[str, dict] = {}
    for message in messages:
        record = codec.decode(message.value())
        assert message.key().decode() == record["item_id"]
        items[record["item_id"]] = record
    assert len(messages) == len(items), "an item was produced twice"
    assert len(items) == expected, f"{len(items)} items landed, {expected} expected"
    return items


def test_jsonl_file_lands_every_valid_item_and_reports_each_broken_line(
    topics: AlstreamSettings, tmp_path: Path
) -> None:
    rng = np.random.default_rng(5)
    lines = [
        json.dumps(
            {
                "item_id": f"item-{i}",
                "embedding": rng.standard_normal(64).tolist(),
                "metadata": {"n": i},
                "event_time": 1_760_000_000_000 + i,
            }
        )
        for i in range(200)
    ]
    broken = {
        10: ('{"item_id": "cut", "embedding": [0.1, ', "unparseable"),
        20: (json.dumps({"item_id": "short", "embedding": [0.1] * 63}), "embedding_dim"),
        30: (json.dumps({"embedding": [0.1] * 64}), "missing_field"),
        40: (json.dumps({"item_id": "inf", "embedding": [1e39] * 64}), "not_finite"),
        50: (
            json.dumps({"item_id": "part", "unit_of_work": "REGION", "embedding": [0.1] * 64}),
            "unit_of_work",
        ),
    }
    valid_ids = {f"item-{i}" for i in range(200)} - {f"item-{i - 1}" for i in broken}
    for line_number, (text, _) in broken.items():
        lines[line_number - 1] = text
    path = tmp_path / "batch.jsonl"
    path.write_text("\n".join(lines) + "\n")

    result = CliRunner().invoke(app, ["produce", str(path), "--no-progress", "--chunk-size", "64"])
    assert result.exit_code == 1, result.output
    # the summary row, not any "195" (the pytest temporary path may contain one)
    assert re.search(r"sent \(acknowledged by the broker\)\W+195\W", result.output), result.output

    rejects = [json.loads(line) for line in (tmp_path / "batch.jsonl.rejects.jsonl").read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in rejects] == [(n, reason) for n, (_, reason) in broken.items()]
    assert all(r["message"] for r in rejects)
    assert rejects[1]["record"]["item_id"] == "short" and rejects[0]["record"].startswith('{"item_id": "cut"')

    landed = consume_items(topics, len(valid_ids))
    assert set(landed) == valid_ids
    assert landed["item-0"]["source"] == "batch"  # default source: the file name
    assert landed["item-7"]["metadata"] == {"n": "7"}
    assert landed["item-7"]["event_time"] == 1_760_000_000_007


def test_clean_file_exits_zero_and_sdk_columns_land(topics: AlstreamSettings, tmp_path: Path) -> None:
    path = tmp_path / "clean.csv"
    header = ",".join(["item_id", "source"] + [f"emb_{j}" for j in range(64)])
    path.write_text(
        header + "\n" + "\n".join(f"csv-{i},cam," + ",".join(["0.5"] * 64) for i in range(20)) + "\n"
    )
    result = CliRunner().invoke(app, ["produce", str(path), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "clean.csv.rejects.jsonl").read_text() == ""

    # a small client queue (1,000 items) for 3,000 items: back-pressure must wait, never drop
    bounded = load_settings(ingest={"max_in_flight_messages": 1_000})
    assert bounded.kafka.topic("items") == topics.kafka.topic("items")
    with ItemProducer(settings=bounded) as producer:
        rejections = producer.send_columns(
            item_ids=[f"col-{i}" for i in range(3_000)], embeddings=np.ones((3_000, 64)), source="sdk"
        )
        assert producer.chunk_size == 500
    report = producer.close(30)
    assert rejections == [] and report.complete and report.acknowledged == 3_000
    landed = consume_items(topics, 3_020)
    assert {k for k in landed if k.startswith("csv-")} == {f"csv-{i}" for i in range(20)}
    assert {k for k in landed if k.startswith("col-")} == {f"col-{i}" for i in range(3_000)}
