"""`alstream policy check` says what is wrong with a policy in the ML owner's terms."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from alstream.agents.selection.exceptions import PolicyError
from alstream.cli.main import app

HEAD = 'version = "2026.11-test-1"\ngoal = "fewer errors"\n'


def check(tmp_path: Path, body: str) -> tuple[int, str]:
    path = tmp_path / "policy.toml"
    path.write_text(HEAD + body)
    result = CliRunner().invoke(app, ["policy", "check", str(path)])
    if isinstance(result.exception, PolicyError):  # main() prints these as `error: ...` with exit 2
        return 2, str(result.exception)
    return result.exit_code, result.output


def test_a_missing_qa_gold_file_is_refused(tmp_path: Path) -> None:
    code, output = check(tmp_path, 'qa_gold_file = "gold.csv"\n[signal]\nname = "entropy"\n')
    assert code == 2
    assert f"qa_gold_file {tmp_path / 'gold.csv'} does not exist" in output
    (tmp_path / "gold.csv").write_text("item_id,label\n")
    code, output = check(tmp_path, 'qa_gold_file = "gold.csv"\n[signal]\nname = "entropy"\n')
    assert code == 0, output


def test_a_failure_bank_not_written_yet_is_a_note(tmp_path: Path) -> None:
    code, output = check(
        tmp_path, '[signal]\nname = "failure_distance"\nparams = { bank_file = "bank.npz" }\n'
    )
    assert code == 0, output
    assert "note: signal.params.bank_file" in output and "does not exist yet" in output


@pytest.mark.parametrize(
    "body",
    [
        '[signal]\nname = ["entropy", "margin"]\n',
        'signals = ["entropy", "margin"]\n',
        '[signal]\nname = "entropy"\n[signal2]\nname = "margin"\n',
        '[signal]\nname = "entropy"\nalso = "margin"\n',
    ],
)
def test_two_signals_are_named_as_such_not_as_a_spelling_mistake(tmp_path: Path, body: str) -> None:
    code, output = check(tmp_path, body)
    assert code == 2
    assert "exactly one signal" in output and "[[signals]] table" in output
    assert "spelling" not in output


def test_a_wrong_parameter_lists_the_signals_parameters(tmp_path: Path) -> None:
    code, output = check(tmp_path, '[signal]\nname = "entropy"\nparams = { normalise = true }\n')
    assert code == 2
    assert "no parameter normalise" in output and "normalize (default False)" in output
    code, output = check(tmp_path, '[signal]\nname = "margin"\nparams = { k = 3 }\n')
    assert code == 2 and "takes no parameters" in output


def test_ok_says_which_parameters_the_signal_takes(tmp_path: Path) -> None:
    code, output = check(tmp_path, '[signal]\nname = "low_confidence"\nparams = { threshold = 0.5 }\n')
    assert code == 0, output
    assert "threshold (default 0.6)" in output and "class_index" in output


def test_a_misspelt_key_still_blames_spelling(tmp_path: Path) -> None:
    code, output = check(tmp_path, 'candidate_per_window = 5\n[signal]\nname = "entropy"\n')
    assert code == 2 and "check its spelling" in output
