"""The console script wires every command group; a missing one is a packaging bug users hit first."""

from typer.testing import CliRunner

from alstream.cli.main import app


def test_help_lists_foundation_commands() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("agent", "broker", "topics"):
        assert command in result.output


def test_unknown_agent_is_a_clear_error() -> None:
    result = CliRunner().invoke(app, ["agent", "no-such-agent"])
    assert result.exit_code != 0
    assert "unknown agent 'no-such-agent'" in str(result.exception)
