"""Items a stranger's producer sends past the SDK meet the SDK's rules at the scorer.

The producer here is built from ``schemas/items.avsc`` and the docs alone (tests/support/raw_avro.py,
no alstream code). Every item docs/ingestion.md calls invalid must be dead-lettered by the scorer
with the reason code the SDK would have given (the dead letter's ``alstream.error.class`` header), and
never reach the scores or candidates topics, so it can never be routed or released.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.batch_loop import StopFlag
from tests.support.raw_avro import RawClient, decode, error_headers, packed
from tests.support.waiting import wait_until

pytestmark = pytest.mark.broker

DIM = 64
NOW_MS = int(time.time() * 1000)
GOOD_EMBEDDING = packed([0.1 * (i % 7) for i in range(DIM)])


def item(key: str, **overrides: Any) -> dict[str, Any]:
    """A valid item whose id is its record key, with ``overrides`` applied."""
    record = {
        "item_id": key,
        "source": "stranger",
        "unit_of_work": "ITEM",
        "parent_id": None,
        "embedding": GOOD_EMBEDDING,
        "probabilities": None,
        "hardness": None,
        "uri": None,
        "metadata": {},
        "event_time": NOW_MS,
    }
    record.update(overrides)
    return record


# Record key -> (what the record breaks, the reason docs/ingestion.md gives for it).
INVALID: dict[str, tuple[dict[str, Any], str]] = {
    "empty-id": ({"item_id": ""}, "id_length"),
    "long-id": ({"item_id": "x" * 257}, "id_length"),  # ingest.max_id_length is 256
    "before-1970": ({"event_time": -1}, "event_time"),
    "year-9999": ({"event_time": 253_370_764_800_000}, "event_time"),
    "nan-embedding": ({"embedding": packed([math.nan] + [0.0] * (DIM - 1))}, "not_finite"),
    "short-embedding": ({"embedding": packed([0.0] * (DIM - 1))}, "embedding_dim"),
    "ragged-embedding": ({"embedding": GOOD_EMBEDDING[:-1]}, "bad_type"),
    "empty-source": ({"source": ""}, "missing_field"),
    "part-without-parent": ({"unit_of_work": "OBJECT"}, "unit_of_work"),
    "empty-parent": ({"unit_of_work": "OBJECT", "parent_id": ""}, "id_length"),
    "probabilities-sum": ({"probabilities": packed([0.5, 0.3, 0.1])}, "probabilities_sum"),
    "probabilities-length": ({"probabilities": packed([0.5, 0.5])}, "probabilities_length"),
    "probabilities-range": ({"probabilities": packed([1.5, -0.25, -0.25])}, "probabilities_range"),
    "nan-probability": ({"probabilities": packed([math.nan, 0.5, 0.5])}, "not_finite"),
    "hardness": (
        {
            "hardness": {
                "object_hardness": packed([1.5]),
                "pixel_mean_uncertainty": None,
                "pixel_uncertain_fraction": None,
            }
        },
        "hardness",
    ),
    # valid as an item, but not what this scorer's policy scores (docs/policy.md, units of work)
    "other-unit": ({"unit_of_work": "OBJECT", "parent_id": "image-1"}, "policy_unit_of_work"),
}
VALID = [f"good-{i}" for i in range(5)]


def test_items_the_docs_call_invalid_are_dead_lettered_with_the_sdk_reason(
    topics: AlstreamSettings, group_id: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alstream.agents.scorer.main import run

    policy = tmp_path / "policy.toml"
    policy.write_text(
        'version = "stranger-1"\ngoal = "test"\nwindow_seconds = 1.0\ncandidates_per_window = 50\n'
        '[signal]\nname = "entropy"\n',
        encoding="utf-8",
    )
    for key, value in {
        "ALSTREAM_SCORER__GROUP_ID": group_id,
        "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state"),
        "ALSTREAM_PATHS__POLICY_FILE": str(policy),
        "ALSTREAM_TASK__CLASSES": '["a", "b", "c"]',
    }.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()

    client = RawClient(bootstrap=settings.kafka.bootstrap_servers or "", prefix=settings.kafka.topic_prefix)
    for item_id in VALID:
        client.send("items", item_id, item(item_id, probabilities=packed([0.2, 0.3, 0.5])))
    for key, (overrides, _) in INVALID.items():
        client.send("items", key, item(key, **overrides))
    client.flush()

    stop = StopFlag()
    scorer = threading.Thread(target=run, args=(settings,), kwargs={"stop": stop}, daemon=True)
    scorer.start()
    try:
        found: dict[str, dict[str, str]] = {}

        def dead_letters() -> dict[str, dict[str, str]]:
            letters = client.read_all("dead-letters", group=f"{group_id}-dlq")
            found.update({m.key().decode(): error_headers(m) for m in letters})
            return found if set(INVALID) <= set(found) else {}

        letters = wait_until(
            dead_letters,
            timeout_s=90,
            what="a dead letter for every invalid item",
            diagnose=lambda: f"no dead letter for: {sorted(set(INVALID) - set(found))}",
        )

        def all_scored() -> list[dict[str, Any]]:
            found = decoded(client, "scores", group_id)
            return found if set(VALID) <= {s["item_id"] for s in found} else []

        scores = wait_until(all_scored, timeout_s=60, what="a score for every valid item")
        candidates = wait_until(
            lambda: decoded(client, "candidates", group_id), timeout_s=30, what="the window's candidates"
        )
    finally:
        stop.set()
        scorer.join(30)

    reasons = {key: letters[key]["class"] for key in INVALID}
    assert reasons == {key: reason for key, (_, reason) in INVALID.items()}
    assert {letters[key]["agent"] for key in INVALID} == {"scorer"}
    assert {letters[key]["topic"] for key in INVALID} == {client.topic("items")}
    invalid_ids = {item(key, **overrides)["item_id"] for key, (overrides, _) in INVALID.items()}
    assert {s["item_id"] for s in scores} == set(VALID)
    assert not {c["item_id"] for c in candidates} & invalid_ids


def decoded(client: RawClient, topic: str, group_id: str) -> list[dict[str, Any]]:
    return [decode(topic, m.value()) for m in client.read_all(topic, group=f"{group_id}-{topic}")]
