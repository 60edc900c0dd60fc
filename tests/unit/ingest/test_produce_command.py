"""`alstream produce` refuses unusable input with exit code 2 before touching a cluster."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from alstream.cli.main import app


@pytest.fixture(autouse=True)
def no_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("ALSTREAM_KAFKA__BOOTSTRAP_SERVERS", raising=False)


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["produce", str(tmp_path / "absent.jsonl")])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_unknown_format_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "items.txt"
    path.write_text("{}\n")
    result = CliRunner().invoke(app, ["produce", str(path)])
    assert result.exit_code == 2
    assert "--format" in result.output


def test_help_lists_the_file_options() -> None:
    result = CliRunner().invoke(app, ["produce", "--help"])
    assert result.exit_code == 0
    for option in ("--format", "--rejects", "--embedding-prefix", "--source"):
        assert option in result.output


def test_errors_are_one_line_whatever_the_path_length(tmp_path: Path) -> None:
    """A long path must not push the sentence onto a second line (scripts grep for it)."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    result = CliRunner().invoke(app, ["produce", str(deep / "absent.jsonl")])
    assert result.exit_code == 2
    assert f"error: {deep / 'absent.jsonl'} does not exist or is not a file" in result.output.splitlines()


def test_usage_errors_are_one_line_too() -> None:
    option = "--an-option-name-long-enough-that-a-boxed-eighty-column-panel-would-wrap-it-somewhere"
    result = CliRunner().invoke(app, ["produce", "items.jsonl", option])
    assert result.exit_code == 2
    assert f"error: No such option: {option}" in result.output.splitlines()
