"""The trainer agent trains once per announced release, every N labels when asked, and dead-letters junk."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from alstream.agents.release.service import store_for
from alstream.agents.trainer import main as trainer_main
from alstream.cli.main import app
from alstream.demo.dataset import prepare
from alstream.settings import load_settings
from alstream.streams.codecs import codec_for
from alstream.streams.testing import InMemoryMessage

NOW = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)


class FakeOutputs:
    def __init__(self) -> None:
        self.dead: list[Any] = []

    def dead_letter(self, message: Any, error: Any, text: str | None = None) -> None:
        self.dead.append((message, error))


def _announcement(
    settings: Any, release_id: str, *, content: str | None = None, items: int = 1
) -> InMemoryMessage:
    value = codec_for("releases", settings).encode(
        {
            "release_id": release_id,
            "parent_release_id": None,
            "uri": store_for(settings).uri_of(release_id),  # where the release agent stores it
            "content_hash": content or f"hash-of-{release_id}",
            "policy_versions": ["p"],
            "model_versions": ["m"],
            "labels_from": None,
            "labels_to": None,
            "item_count": items,
            "counts_by_kind": {},
            "counts_by_class": {},
            "qa_error_rate": None,
            "agreement": None,
            "validation_metric": None,
            "created_at": NOW,
        }
    )
    return InMemoryMessage(settings.kafka.topic("releases"), value, release_id.encode())


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    monkeypatch.setenv("ALSTREAM_PATHS__STATE_DIR", str(tmp_path))
    made: list[dict[str, Any]] = []

    def fake_train(settings: Any, **kwargs: Any) -> SimpleNamespace:
        made.append(kwargs)
        return SimpleNamespace(published=True)

    monkeypatch.setattr(trainer_main, "train_once", fake_train)
    monkeypatch.setattr(trainer_main, "release_inputs", lambda uri, rid: {"release": ("release", uri, rid)})
    monkeypatch.setattr(
        trainer_main, "labels_so_far_inputs", lambda settings: {"release": ("labels so far",)}
    )
    return made


def test_each_release_is_trained_on_once_even_across_restarts(calls: list[dict[str, Any]]) -> None:
    settings = load_settings()
    processor = trainer_main.TrainerProcessor(settings=settings)
    outputs = FakeOutputs()
    processor.process([_announcement(settings, "r1"), _announcement(settings, "r1")], outputs)  # type: ignore[arg-type]
    assert [c["release_id"] for c in calls] == ["r1"]
    assert calls[0]["release"] == ("release", store_for(settings).uri_of("r1"), "r1")
    restarted = trainer_main.TrainerProcessor(settings=settings)
    restarted.process([_announcement(settings, "r1"), _announcement(settings, "r2")], outputs)  # type: ignore[arg-type]
    assert [c["release_id"] for c in calls] == ["r1", "r2"]


def test_same_content_or_empty_release_does_not_retrain(calls: list[dict[str, Any]]) -> None:
    settings = load_settings()
    processor = trainer_main.TrainerProcessor(settings=settings)
    processor.process(
        [  # type: ignore[arg-type]
            _announcement(settings, "r1", content="abc"),
            _announcement(settings, "r2", content="abc"),  # a later cut-off with no new labels
            _announcement(settings, "r3", items=0),
        ],
        FakeOutputs(),
    )
    assert [c["release_id"] for c in calls] == ["r1"]


def test_retrains_every_n_labels(calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALSTREAM_TRAINER__RETRAIN_EVERY_LABELS", "3")
    settings = load_settings()
    processor = trainer_main.TrainerProcessor(settings=settings)
    label = InMemoryMessage(settings.kafka.topic("labels"), b"x")
    processor.process([label, label], FakeOutputs())  # type: ignore[arg-type]
    assert calls == []
    processor.process([label, label], FakeOutputs())  # type: ignore[arg-type]
    assert calls == [{"release": ("labels so far",)}]
    assert processor.new_labels == 0


def test_undecodable_announcement_is_dead_lettered(calls: list[dict[str, Any]]) -> None:
    settings = load_settings()
    outputs = FakeOutputs()
    trainer_main.TrainerProcessor(settings=settings).process(
        [InMemoryMessage(settings.kafka.topic("releases"), b"junk")],
        outputs,  # type: ignore[arg-type]
    )
    assert len(outputs.dead) == 1 and calls == []


def test_train_cli_seed_only_evaluates_without_a_broker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepare(tmp_path / "demo", seed=7)
    monkeypatch.setenv("ALSTREAM_PATHS__STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ALSTREAM_TRAINER__VALIDATION_FILE", str(tmp_path / "demo" / "validation.npz"))
    monkeypatch.setenv("ALSTREAM_TRAINER__SEED_FILE", str(tmp_path / "demo" / "seed.npz"))
    result = CliRunner().invoke(app, ["train", "--seed-only", "--no-publish"])
    assert result.exit_code == 0, result.output
    assert "evaluated only" in result.output and "macro_f1" in result.output
    monkeypatch.delenv("ALSTREAM_TRAINER__VALIDATION_FILE")
    missing = CliRunner().invoke(app, ["train", "--seed-only", "--no-publish"])
    assert missing.exit_code != 0
    assert "ALSTREAM_TRAINER__VALIDATION_FILE" in str(missing.exception)


def test_train_cli_on_a_stored_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    from alstream.agents.release.builder import ReleaseInputs, build_release
    from alstream.agents.release.storage import ReleaseStore
    from tests.support.records import release_scenario

    labels, assignments, embeddings = release_scenario()
    store = ReleaseStore(root=tmp_path / "state" / "releases")
    built = build_release(
        ReleaseInputs(labels=labels, assignments=assignments, embeddings=embeddings),
        cutoff=NOW,
        uri_for=store.uri_of,
    )
    store.write(built.release_id, built.files)
    rng = np.random.default_rng(1)
    np.savez(
        tmp_path / "validation.npz",
        item_ids=np.array(["v1", "v2", "v3"]),
        embeddings=rng.random((3, 4)).astype("<f4"),
        labels=np.array(["cat", "dog", "fox"]),
    )
    monkeypatch.setenv("ALSTREAM_PATHS__STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ALSTREAM_TRAINER__VALIDATION_FILE", str(tmp_path / "validation.npz"))
    result = CliRunner().invoke(app, ["train", "--release", "latest", "--no-publish"])
    assert result.exit_code == 0, result.output
    assert "evaluated only" in result.output and "recall:fox" in result.output


def test_failed_training_is_dead_lettered_not_fatal_but_unannounced_model_replays(
    calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from alstream.agents.release.exceptions import ReleaseNotFound
    from alstream.agents.trainer.exceptions import PublishFailed
    from alstream.streams.exceptions import RetryLater

    settings = load_settings()
    processor = trainer_main.TrainerProcessor(settings=settings)

    def missing(uri: str, rid: str) -> None:
        raise ReleaseNotFound(f"no release {rid}")

    monkeypatch.setattr(trainer_main, "release_inputs", missing)
    outputs = FakeOutputs()
    processor.process([_announcement(settings, "gone")], outputs)  # type: ignore[arg-type]
    assert "gone" in processor.trained  # skipped for good: retrying cannot bring it back
    [(message, error)] = outputs.dead  # and the operator finds it, with why, in the dead letters
    assert message.key() == b"gone" and isinstance(error, ReleaseNotFound)

    def unannounced(settings: Any, **kwargs: Any) -> None:
        raise PublishFailed("model saved but not announced")

    monkeypatch.setattr(trainer_main, "release_inputs", lambda uri, rid: {"release": ("release", uri, rid)})
    monkeypatch.setattr(trainer_main, "train_once", unannounced)
    with pytest.raises(RetryLater):  # the runtime processes it again later, never dead-letters it
        processor.process([_announcement(settings, "r9")], FakeOutputs())  # type: ignore[arg-type]
    assert "r9" not in processor.trained  # replayed, so trained later


def test_a_readable_release_with_nothing_trainable_is_skipped_not_dead_lettered(
    calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from alstream.agents.trainer.exceptions import TrainerError

    def nothing(settings: Any, **kwargs: Any) -> None:
        raise TrainerError("nothing to train on: the release has no trainable items")

    monkeypatch.setattr(trainer_main, "train_once", nothing)
    settings = load_settings()
    processor = trainer_main.TrainerProcessor(settings=settings)
    outputs = FakeOutputs()
    processor.process([_announcement(settings, "r-empty")], outputs)  # type: ignore[arg-type]
    assert outputs.dead == []  # the release is fine: it only gives the trainer nothing to learn
    assert "r-empty" in processor.trained
