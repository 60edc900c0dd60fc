"""Settings of the bridge fail fast with the fix; the agent is runnable as `alstream agent label-studio`."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from alstream.agents.label_studio.api import connect
from alstream.agents.label_studio.config import LabelStudioSettings
from alstream.agents.label_studio.exceptions import MissingExtra
from alstream.cli.commands.agent import runnable_agents
from alstream.cli.main import app
from alstream.exceptions import ConfigError
from alstream.settings import load_settings


def test_account_creation_needs_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALSTREAM_LABEL_STUDIO__CREATE_ACCOUNTS", "true")
    with pytest.raises(ConfigError, match="ALSTREAM_LABEL_STUDIO__INITIAL_PASSWORD"):
        load_settings()


def test_secrets_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALSTREAM_LABEL_STUDIO__API_TOKEN", "s3cr3t-token")
    monkeypatch.setenv("ALSTREAM_LABEL_STUDIO__INITIAL_PASSWORD", "s3cr3t-password")
    shown = repr(load_settings())
    assert "s3cr3t" not in shown


@pytest.mark.parametrize("annotators", ['["__router_tick__"]', '["a", "a"]', '[""]'])
def test_reserved_duplicate_or_empty_annotators_are_refused(
    annotators: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALSTREAM_LABEL_STUDIO__ANNOTATORS", annotators)
    with pytest.raises(ConfigError, match=r"label_studio\.annotators"):
        load_settings()


def test_connection_settings_name_what_to_set() -> None:
    with pytest.raises(ConfigError, match="ALSTREAM_LABEL_STUDIO__URL"):
        LabelStudioSettings().require_connection()
    with pytest.raises(ConfigError, match="ALSTREAM_LABEL_STUDIO__ANNOTATORS"):
        LabelStudioSettings(url="http://ls:8080/", api_token="t").require_connection()
    config = LabelStudioSettings(url="http://ls:8080/", api_token="t", annotators=["ann-1"])
    assert config.require_connection() == ("http://ls:8080", "t")
    assert config.email_of("Ann-1") == "ann-1@alstream.local"
    assert LabelStudioSettings(annotator_emails={"a": "A@Corp.com"}).email_of("a") == "a@corp.com"


def test_without_the_extra_the_bridge_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "label_studio_sdk", None)  # what a missing package looks like
    with pytest.raises(MissingExtra, match=r"pip install 'alstream\[label-studio\]'"):
        connect(url="http://ls", token="t", timeout_s=1.0)


def test_the_agent_is_listed_and_refuses_to_start_unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "label-studio" in runnable_agents()
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setattr("alstream.cli.commands.agent.cluster_settings_from", lambda ctx, **_: load_settings())
    result = CliRunner().invoke(app, ["agent", "label-studio"])
    assert isinstance(result.exception, ConfigError)
    assert "ALSTREAM_LABEL_STUDIO__URL" in str(result.exception)


def test_the_bridge_serves_only_annotators_bound_to_its_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    """With [identity] tools, the bridge is one tool: an annotator not bound to it fails the start."""
    from alstream.agents.label_studio.main import require_bound_annotators

    monkeypatch.setenv("ALSTREAM_LABEL_STUDIO__ANNOTATORS", '["ls-alice", "bob"]')
    monkeypatch.setenv("ALSTREAM_IDENTITY__TOOLS", '{"label-studio": ["ls-*"], "other": ["bob"]}')
    monkeypatch.setenv("ALSTREAM_IDENTITY__TOOL", "label-studio")
    with pytest.raises(ConfigError, match=r"bob are not bound to this bridge's tool 'label-studio'"):
        require_bound_annotators(load_settings())
    monkeypatch.setenv("ALSTREAM_LABEL_STUDIO__ANNOTATORS", '["ls-alice", "ls-bob"]')
    require_bound_annotators(load_settings())
    monkeypatch.delenv("ALSTREAM_IDENTITY__TOOL")
    with pytest.raises(ConfigError, match="ALSTREAM_IDENTITY__TOOL"):  # which tool is it?
        require_bound_annotators(load_settings())
