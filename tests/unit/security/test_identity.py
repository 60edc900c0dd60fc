"""[identity]: which tool may act for which annotator, and the tool topics `alstream topics create` makes."""

from __future__ import annotations

import pytest

from alstream.exceptions import ConfigError
from alstream.security.identity import (
    IdentitySettings,
    deployment_topics,
    parse_tool_topic,
    this_tool,
    tool_topic,
)
from alstream.settings import load_settings
from alstream.streams.topics import CATALOGUE


def test_exact_ids_and_prefix_patterns_bind_annotators() -> None:
    identity = IdentitySettings(tools={"a": ["alice"], "studio": ["ls-*"], "all": ["*"]})
    assert identity.tools_for("alice") == ["a", "all"]
    assert identity.tools_for("ls-7") == ["all", "studio"]
    assert identity.tools_for("alice2") == ["all"]
    assert identity.tools_for("__router_tick__") == []
    assert identity.may_act_for("studio", "ls-1") and not identity.may_act_for("studio", "alice")


@pytest.mark.parametrize(
    ("tools", "fix"),
    [
        ({"bad name": ["x"]}, "letters"),
        ({"t": ["__x"]}, "reserved"),
        ({"t": ["a*b"]}, "may only end"),
        ({"t": [""]}, "empty"),
    ],
)
def test_bad_bindings_fail_at_start(tools: dict[str, list[str]], fix: str) -> None:
    with pytest.raises(ConfigError, match=fix):
        load_settings(environ={"ALSTREAM_IDENTITY__TOOLS": __import__("json").dumps(tools)})


def test_a_tool_names_itself_or_logs_in_as_itself() -> None:
    identity = IdentitySettings(tools={"lt": ["ann-*"]})
    assert this_tool(identity, "lt") == "lt"
    assert this_tool(identity.model_copy(update={"tool": "lt"}), None) == "lt"
    with pytest.raises(ConfigError, match="ALSTREAM_IDENTITY__TOOL"):
        this_tool(identity, None)
    with pytest.raises(ConfigError, match="not in"):
        this_tool(identity, "someone-else")


def test_each_tool_gets_three_topics_shaped_like_the_shared_ones() -> None:
    specs = deployment_topics(IdentitySettings(tools={"lt": ["a"]}))
    extra = {s.base_name: s for s in specs[len(CATALOGUE) :]}
    assert set(extra) == {"tool.lt.labels", "tool.lt.annotator-events", "tool.lt.assignments"}
    shared = {s.base_name: s for s in CATALOGUE}
    for base in ("labels", "annotator-events", "assignments"):
        assert extra[f"tool.lt.{base}"].partitions == shared[base].partitions
    assert parse_tool_topic("p.", tool_topic("p.", "lt", "labels")) == ("lt", "labels")
    assert parse_tool_topic("p.", "p.labels") is None
    assert deployment_topics(IdentitySettings()) == CATALOGUE
