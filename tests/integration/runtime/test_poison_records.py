"""The poison-pill rule, from the outside: a record an agent cannot process is dead-lettered and the
agent moves on. Real agents (``alstream agent NAME`` subprocesses) on a real broker.

Each test sends a record that could stop an agent that handled it naively (a ~1 MB item from a
default librdkafka producer, 5 MB records, a model artifact that is not a zip, a release at an unknown
URI scheme, random bytes where an assignment or a calibration round belongs), then checks three
things: the dead letter exists (and fits), the agent is still running, and it still processes what
comes next.
"""

from __future__ import annotations

import hashlib
import os
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alstream.demo import scrape
from alstream.ingest.producer import ItemProducer
from alstream.settings import AlstreamSettings
from alstream.streams.codecs import SingleObjectCodec
from alstream.streams.embedded_broker import free_port
from tests.support import records
from tests.support.processes import start_agent, start_command, while_running
from tests.support.topics import dead_letter_for, dead_letters_for, produce_raw, read_messages
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]

DIM = 64
FIVE_MB = 5 * 1024 * 1024
# Just under what a default librdkafka producer accepts (message.max.bytes 1,000,000 covers the value,
# the key and the record's overhead): the original plus any error text no longer fits that limit.
NEAR_ONE_MB = 999_900


def garbage(size: int, *, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


def send_items(settings: AlstreamSettings, ids: list[str]) -> None:
    with ItemProducer(settings=settings, default_source="test") as sdk:
        rejected = sdk.send_many([records.item(item_id, dim=DIM, seed=n) for n, item_id in enumerate(ids)])
        assert not rejected
        report = sdk.flush(30)
        assert not report.failures and not report.pending


def scored_ids(settings: AlstreamSettings) -> set[str]:
    codec = SingleObjectCodec("scores")
    return {codec.decode(m.value())["item_id"] for m in read_messages(settings, "scores")}


@pytest.fixture
def scorer_env(topics: AlstreamSettings, tmp_path: Path, group_id: str) -> dict[str, str]:
    policy = tmp_path / "policy.toml"
    policy.write_text(
        'version = "poison-1"\ngoal = "test"\nwindow_seconds = 2.0\n[signal]\nname = "entropy"\n'
    )
    return {
        **os.environ,
        "ALSTREAM_SCORER__GROUP_ID": f"{group_id}-scorer",
        "ALSTREAM_SCORER__BATCH_SIZE": "100",
        "ALSTREAM_SCORER__MODEL_CATCH_UP_S": "2",
        "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state"),
        "ALSTREAM_PATHS__POLICY_FILE": str(policy),
        "ALSTREAM_TASK__CLASSES": '["cat", "dog", "fox"]',
    }


@pytest.mark.parametrize(
    ("size", "producer_limit"),
    [
        (NEAR_ONE_MB, None),  # a default librdkafka producer, as an ingestion client would use
        (FIVE_MB, 10_000_000),  # above every default limit: the embedded broker accepts it all the same
    ],
    ids=["near-1MB", "5MB"],
)
def test_scorer_dead_letters_an_oversized_item_and_keeps_scoring(
    size: int,
    producer_limit: int | None,
    topics: AlstreamSettings,
    scorer_env: dict[str, str],
    tmp_path: Path,
) -> None:
    scorer = start_agent("scorer", env=scorer_env, log_file=tmp_path / "scorer.log")
    try:
        header = SingleObjectCodec("items").header
        huge = header + garbage(size - len(header))
        limit = {} if producer_limit is None else {"message.max.bytes": producer_limit}
        where = produce_raw(topics, "items", huge, key="huge-item", **limit)
        send_items(topics, [f"after-{n}" for n in range(50)])
        wait_until(
            while_running(scorer, lambda: {f"after-{n}" for n in range(50)} <= scored_ids(topics)),
            timeout_s=120,
            what="the items sent after the oversized item to be scored",
            diagnose=scorer.tail,
        )
        letter = wait_until(
            while_running(scorer, lambda: dead_letter_for(topics, where, agent="scorer")),
            timeout_s=30,
            what="the oversized item's dead letter",
            diagnose=scorer.tail,
        )
        assert letter["error_class"]
        assert letter["_size"] <= topics.kafka.max_message_bytes
        truncation = letter["truncation"]
        if truncation is None:  # it fitted whole
            assert letter["original_value"] == huge
        else:
            assert truncation["value_size"] == len(huge)
            assert truncation["value_sha256"] == hashlib.sha256(huge).hexdigest()
            assert huge.startswith(letter["original_value"])
        assert size < 2_000_000 or truncation is not None, "a 5 MB original cannot fit whole"
        assert scorer.running, scorer.tail()
    finally:
        scorer.stop()


def test_scorer_refuses_a_model_that_is_not_a_zip_and_survives_restarts(
    topics: AlstreamSettings, scorer_env: dict[str, str], tmp_path: Path
) -> None:
    artifact = tmp_path / "state" / "models" / "not-a-zip.skops"  # in the scorer's model store
    artifact.parent.mkdir(parents=True)
    artifact.write_bytes(b"this is not a zip archive" * 10)
    announcement = records.model_announcement(
        "broken-1",
        artifact_uri=str(artifact),
        artifact_sha256=hashlib.sha256(artifact.read_bytes()).hexdigest(),
        embedding_dim=DIM,
    )
    where = produce_raw(topics, "models", SingleObjectCodec("models").encode(announcement), key="default")
    for start in (1, 2):  # the scorer replays the latest announcement at every start
        scorer = start_agent("scorer", env=scorer_env, log_file=tmp_path / f"scorer-{start}.log")
        try:
            ids = [f"start{start}-{n}" for n in range(20)]
            send_items(topics, ids)
            wait_until(
                while_running(scorer, lambda ids=ids: set(ids) <= scored_ids(topics)),
                timeout_s=120,
                what=f"items to be scored after start {start}",
                diagnose=scorer.tail,
            )
        finally:
            assert scorer.stop() == 0, scorer.tail()
    letter = dead_letter_for(topics, where, agent="scorer")
    assert letter is not None and letter["error_class"] == "ArtifactError", letter
    # Both starts refused the announcement; the dead-letter topic has it once, not once per start.
    assert len(dead_letters_for(topics, where, agent="scorer")) == 1


@pytest.fixture
def labels_env(topics: AlstreamSettings, tmp_path: Path, group_id: str) -> dict[str, str]:
    return {
        **os.environ,
        "ALSTREAM_TASK__CLASSES": '["cat", "dog"]',
        "ALSTREAM_LABELS__HOLD_UNKNOWN_S": "1",
        "ALSTREAM_LABELS__GROUP_ID": f"{group_id}-labels",
        "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state"),
    }


def test_labels_agent_dead_letters_a_five_megabyte_label_and_moves_on(
    topics: AlstreamSettings, labels_env: dict[str, str], tmp_path: Path
) -> None:
    agent = start_agent("labels", env=labels_env, log_file=tmp_path / "labels.log")
    try:
        big = produce_raw(topics, "labels", garbage(FIVE_MB), key="it1", **{"message.max.bytes": 10_000_000})
        small = produce_raw(topics, "labels", b"not a label", key="it1")
        for where in (big, small):
            letter = wait_until(
                while_running(agent, lambda where=where: dead_letter_for(topics, where, agent="labels")),
                timeout_s=90,
                what=f"the dead letter of {where}",
                diagnose=agent.tail,
            )
            assert letter["_size"] <= 1_048_588
        assert agent.running, agent.tail()
    finally:
        agent.stop()


@pytest.fixture
def trainer_env(topics: AlstreamSettings, tmp_path: Path, group_id: str) -> dict[str, str]:
    from alstream.demo.dataset import CLASSES, prepare

    demo = prepare(tmp_path / "demo", seed=7)
    return {
        **os.environ,
        "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state"),
        "ALSTREAM_TASK__CLASSES": '["' + '", "'.join(CLASSES) + '"]',
        "ALSTREAM_TRAINER__VALIDATION_FILE": str(demo.validation_file),
        "ALSTREAM_TRAINER__SEED_FILE": str(demo.seed_file),
        "ALSTREAM_TRAINER__GROUP_ID": f"{group_id}-trainer",
    }


def test_trainer_dead_letters_poison_release_announcements_and_moves_on(
    topics: AlstreamSettings, trainer_env: dict[str, str], tmp_path: Path
) -> None:
    codec = SingleObjectCodec("releases")
    trainer = start_agent("trainer", env=trainer_env, log_file=tmp_path / "trainer.log")
    try:
        poison = [
            produce_raw(
                topics, "releases", garbage(FIVE_MB), key="r-big", **{"message.max.bytes": 10_000_000}
            ),
            produce_raw(
                topics,
                "releases",
                codec.encode(records.release_announcement("r-scheme", uri="nosuchscheme://bucket/r-scheme")),
                key="r-scheme",
            ),
            produce_raw(
                topics,
                "releases",
                codec.encode(records.release_announcement("r-long", uri="x" * FIVE_MB)),
                key="r-long",
                **{"message.max.bytes": 10_000_000},
            ),
        ]
        for where in poison:
            wait_until(
                while_running(trainer, lambda where=where: dead_letter_for(topics, where, agent="trainer")),
                timeout_s=120,
                what=f"the dead letter of {where}",
                diagnose=trainer.tail,
            )
        assert trainer.running, trainer.tail()
    finally:
        trainer.stop()


@pytest.fixture
def router_env(topics: AlstreamSettings, tmp_path: Path, group_id: str) -> dict[str, str]:
    quotas = tmp_path / "quotas.toml"
    quotas.write_text(records.PERMISSIVE_QUOTAS)
    return {
        **os.environ,
        "ALSTREAM_PATHS__QUOTAS_FILE": str(quotas),
        "ALSTREAM_TASK__CLASSES": '["cat", "dog", "fox"]',
        "ALSTREAM_ROUTER__GROUP_ID": f"{group_id}-router",
        "ALSTREAM_ROUTER__TICK_INTERVAL_S": "1",
        "ALSTREAM_PATHS__STATE_DIR": str(tmp_path / "state"),
        "ALSTREAM_METRICS__PORT": str(free_port()),
    }


def assignments_for(settings: AlstreamSettings, annotator: str) -> list[dict]:
    codec = SingleObjectCodec("assignments")
    out = []
    for message in read_messages(settings, "assignments"):
        try:
            record = codec.decode(message.value())
        except Exception:  # noqa: BLE001 - the tests put poison on this topic on purpose
            continue
        if record["annotator_id"] == annotator:
            out.append(record)
    return out


def test_router_dead_letters_a_five_megabyte_candidate_and_keeps_assigning(
    topics: AlstreamSettings, router_env: dict[str, str], tmp_path: Path
) -> None:
    router = start_agent("router", env=router_env, log_file=tmp_path / "router.log")
    try:
        big = produce_raw(
            topics,
            "candidates",
            garbage(FIVE_MB),
            key="big",
            partition=0,
            **{"message.max.bytes": 10_000_000},
        )
        candidates = SingleObjectCodec("candidates")
        events = SingleObjectCodec("annotator-events")
        for partition in (0, 1):
            produce_raw(
                topics,
                "candidates",
                candidates.encode(records.candidate(f"after-{partition}", selected_at=datetime.now(UTC))),
                key=f"after-{partition}",
                partition=partition,
            )
        letter = wait_until(
            while_running(router, lambda: dead_letter_for(topics, big, agent="router")),
            timeout_s=120,
            what="the 5 MB candidate's dead letter",
            diagnose=router.tail,
        )
        assert letter["_size"] <= 1_048_588

        def ask() -> list[dict]:
            now = datetime.now(UTC)
            for partition in (0, 1):  # every shard hears a tool's event
                produce_raw(
                    topics,
                    "annotator-events",
                    events.encode(records.annotator_event("alice", ready_for=2, occurred_at=now)),
                    key="alice",
                    partition=partition,
                )
            return assignments_for(topics, "alice")

        wait_until(
            while_running(router, ask),
            timeout_s=90,
            interval_s=3,
            what="the router to assign after the 5 MB record",
            diagnose=router.tail,
        )
    finally:
        router.stop()


def test_router_dead_letters_and_counts_a_poison_calibration_round(
    topics: AlstreamSettings, router_env: dict[str, str], tmp_path: Path
) -> None:
    router = start_agent("router", env=router_env, log_file=tmp_path / "router.log")
    port = int(router_env["ALSTREAM_METRICS__PORT"])
    try:
        where = produce_raw(topics, "calibration", garbage(200), key="w1")
        wait_until(
            while_running(router, lambda: dead_letter_for(topics, where, agent="router")),
            timeout_s=90,
            what="the poison calibration record's dead letter",
            diagnose=router.tail,
        )
        counted = scrape.total(
            scrape.scrape(port),
            "alstream_dead_letters_total",
            agent="router",
            source_topic=topics.kafka.topic("calibration"),
        )
        assert counted == 1
    finally:
        router.stop()


def test_annotate_skips_random_bytes_on_the_assignments_topic(
    topics: AlstreamSettings, tmp_path: Path
) -> None:
    from alstream.streams.partitioning import partition_for

    partition = partition_for("bob", 2)
    produce_raw(topics, "assignments", garbage(300), key="bob", partition=partition)
    valid = records.assignment(
        "a-bob",
        annotator_id="bob",
        assigned_at=datetime.now(UTC),
        classes=["cat", "dog"],
    )
    produce_raw(
        topics, "assignments", SingleObjectCodec("assignments").encode(valid), key="bob", partition=partition
    )
    annotate = start_command(
        ["annotate", "--annotator", "bob", "--auto", "--max-items", "1", "--seed", "1"],
        env={**os.environ},
        log_file=tmp_path / "annotate.log",
    )
    assert annotate.process is not None
    code = annotate.process.wait(timeout=120)
    assert code == 0, annotate.tail()
    labels = SingleObjectCodec("labels")
    answered = [labels.decode(m.value()) for m in read_messages(topics, "labels")]
    assert [label["assignment_id"] for label in answered] == ["a-bob"]
