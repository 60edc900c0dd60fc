"""Every consumer group alstream joins or names carries the topic prefix, through one function
(``KafkaSettings.group_id``): the agents' loops and committed replays, a faust app's id,
``alstream status`` lag and the ACL matrix. Deployments (or tests) with different prefixes on one
cluster then never share a group."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from alstream.security.acl import agent_groups, grants, roles
from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.config import KafkaSettings

PREFIX = "dep1."
AGENTS = ("scorer", "router", "labels", "agreement", "release", "trainer")


class RecordingRuntime:
    """The parts of AgentRuntime an agent's setup calls, recording the groups it joins."""

    def __init__(self) -> None:
        self.groups: list[str] = []

    def stopping(self) -> bool:
        return False

    def follow(self, topics: list[str], handle: Any, *, what: str, catch_up: bool = True) -> Any:
        return SimpleNamespace(poll=lambda **_: 0, caught_up=lambda: True, catch_up=lambda **_: 0)

    def remember_dead_letters(self, topics: list[str]) -> None:
        pass

    def dead_lettered_before(self, topic: str) -> set[tuple[int, int]]:
        return set()

    def consume(self, *, topics: list[str], group_id: str, **_: Any) -> Any:
        self.groups.append(group_id)
        return SimpleNamespace(outputs=None, producer=None)

    def on_shutdown(self, callback: Any) -> None:
        pass

    def every(self, interval_s: float, callback: Any, *, what: str) -> None:
        pass


@pytest.fixture
def deployment(tmp_path: Path) -> AlstreamSettings:
    return load_settings(
        environ={
            "KAFKA_BOOTSTRAP_SERVERS": "unused:9092",
            "ALSTREAM_KAFKA__TOPIC_PREFIX": PREFIX,
            "ALSTREAM_TASK__CLASSES": '["cat", "dog"]',
            "ALSTREAM_PATHS__STATE_DIR": str(tmp_path),
            "ALSTREAM_AGREEMENT__OVERLAP_K": "2",
        }
    )


def test_a_group_is_the_topic_prefix_plus_its_name() -> None:
    assert KafkaSettings(topic_prefix="a.").group_id("alstream-scorer") == "a.alstream-scorer"
    assert KafkaSettings().group_id("alstream-scorer") == "alstream.alstream-scorer"


def test_each_agent_joins_its_group_under_the_prefix(
    deployment: AlstreamSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alstream.agents.agreement import main as agreement
    from alstream.agents.labels import main as labels
    from alstream.agents.scorer import main as scorer
    from alstream.agents.trainer import main as trainer

    replayed: list[str] = []

    def replay(settings: Any, *, group_id: str, **_: Any) -> int:
        replayed.append(group_id)
        return 0

    for module in (labels, agreement):
        monkeypatch.setattr(module, "replay_committed", replay)
    monkeypatch.setattr(scorer, "build_processor", lambda settings, **_: SimpleNamespace())
    joined = {}
    for name, module in (
        ("scorer", scorer),
        ("labels", labels),
        ("agreement", agreement),
        ("trainer", trainer),
    ):
        runtime = RecordingRuntime()
        module.setup(deployment)(runtime)  # type: ignore[attr-defined]
        (joined[name],) = runtime.groups
    assert joined == {name: f"{PREFIX}alstream-{name}" for name in joined}
    assert replayed == [f"{PREFIX}alstream-labels", f"{PREFIX}alstream-agreement"]  # the same groups


def test_a_faust_apps_id_is_its_prefixed_group(deployment: AlstreamSettings, tmp_path: Path) -> None:
    from alstream.streams.faust_support import make_app

    app = make_app(deployment, name=deployment.router.group_id, partitions=1, state_dir=tmp_path)
    assert app.conf.id == f"{PREFIX}alstream-router" == agent_groups(deployment)["router"]


def test_status_lag_and_the_acl_matrix_name_the_prefixed_groups(deployment: AlstreamSettings) -> None:
    groups = agent_groups(deployment)  # what `alstream status` measures lag on
    assert groups == {agent: f"{PREFIX}alstream-{agent}" for agent in AGENTS}
    matrix = {role.name: role for role in roles(deployment)}
    for agent in AGENTS:
        granted = {
            g.name for g in grants(matrix[agent], deployment) if g.resource == "group" and not g.prefixed
        }
        assert granted == {groups[agent]}, agent
    described = {
        g.name for g in grants(matrix["operator"], deployment) if g.resource == "group" and not g.prefixed
    }
    assert described == set(groups.values())  # the operator's Describe for lag, on the same names
