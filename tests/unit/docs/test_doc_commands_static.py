"""What can be checked of the documented commands without a broker (the runs are in
tests/integration/docs): every fenced block says what it is, every `alstream` command line parses
with the real CLI, every file a doc names exists, and the list of commands not run stays short."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main

from alstream.cli.main import app
from alstream.security.acl import acl_commands
from alstream.settings import load_settings
from tests.support.doc_commands import NOT_RUN, REPO, commands, documents, fenced_blocks, not_run_reason

BLOCKS = [block for path in documents() for block in fenced_blocks(path)]


def test_the_docs_have_command_blocks() -> None:
    bash = [block for block in BLOCKS if block.language == "bash"]
    assert len(bash) >= 10
    assert any(block.path.name == "README.md" and "alstream agent scorer &" in block.text for block in bash)


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.where)
def test_every_fenced_block_says_what_it_is(block: object) -> None:
    """A command in an untagged block would escape the doc tests: commands are `bash`, the rest
    is tagged with what it is (text, json, toml, python, csv)."""
    assert block.language, f"{block.where}: tag the block (bash for commands a reader runs, text for output)"
    assert block.language not in {"sh", "shell", "console", "zsh"}, f"{block.where}: commands are tagged bash"


def _alstream_invocations(command: str) -> list[list[str]]:
    """Each `alstream ...` in a command line, split at &&, ||, ;, | and a trailing &."""
    words = shlex.split(command, comments=True)
    found, current = [], []
    for word in [*words, "&&"]:
        if word in {"&&", "||", ";", "|", "&"}:
            if current[:1] == ["alstream"]:
                found.append(current[1:])
            current = []
        elif word.endswith("&") and not word.endswith("\\&"):
            current.append(word[:-1])
            if current[:1] == ["alstream"]:
                found.append(current[1:])
            current = []
        else:
            current.append(word)
    return found


def _parse(args: list[str]) -> Any:
    """The command ``alstream ARGS`` would run, with ARGS parsed by it (nothing is invoked): the
    subcommand names are walked, then the last command parses the rest and raises on a wrong option."""
    command = typer.main.get_command(app)  # typer ships its own click: its types, not click's
    ctx = command.context_class(command, info_name="alstream")
    rest = list(args)
    while hasattr(command, "get_command"):
        assert rest, f"`alstream {' '.join(args)}` names no subcommand"
        name = rest.pop(0)
        sub = command.get_command(ctx, name)
        assert sub is not None, f"no command {name!r}"
        command, ctx = sub, sub.context_class(sub, info_name=name, parent=ctx)
    command.make_context(ctx.info_name, rest, parent=ctx.parent)
    return command


def test_every_documented_alstream_command_parses() -> None:
    problems, parsed = [], 0
    for block in BLOCKS:
        if block.language != "bash":
            continue
        for command in commands(block):
            for args in _alstream_invocations(command):
                try:
                    _parse(args)
                    parsed += 1
                except Exception as exc:  # noqa: BLE001 - typer's vendored click raises its own types
                    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
                    problems.append(f"{block.where}: alstream {' '.join(args)}: {message}")
    assert parsed >= 20
    assert not problems, "\n".join(problems)


def test_the_parser_catches_a_wrong_option() -> None:
    with pytest.raises(Exception, match="No such option: --jason"):
        _parse(["release", "list", "--jason"])
    with pytest.raises(AssertionError, match="no command 'lst'"):
        _parse(["release", "lst"])
    assert _alstream_invocations("alstream agent router & alstream agent labels &") == [
        ["agent", "router"],
        ["agent", "labels"],
    ]


def test_every_command_not_run_is_still_in_a_doc() -> None:
    """The skip list names real doc lines; an entry no doc uses any more is removed, not kept."""
    used = {
        prefix
        for block in BLOCKS
        if block.language == "bash"
        for command in commands(block)
        for prefix in NOT_RUN
        if command.startswith(prefix)
    }
    assert used == set(NOT_RUN)
    assert not_run_reason("docker compose -f deploy/compose.yaml ps")
    assert not_run_reason("alstream topics create") is None


# Paths a doc may name that are not in the repository: made at run time, or on the reader's machine.
NOT_IN_REPO = re.compile(
    r"^(demo-output/|/etc/|/data/|/var/|/tmp/|~|deploy/data/.+\.(npz|csv)|deploy/\.env$)"
)


# A path is a repository path when it starts at the top level or inside the package (docs say
# `agents/scorer/...` for `alstream/agents/scorer/...`).
TOP_LEVEL = {p.name for p in REPO.iterdir()} | {p.name for p in (REPO / "alstream").iterdir()}


def test_every_repository_path_a_doc_names_exists() -> None:
    missing = []
    for path in documents():
        for line_number, line in enumerate(path.read_text().splitlines(), start=1):
            for name in re.findall(r"`([\w.-]+(?:/[\w.*-]+)+/?)`", line):
                if NOT_IN_REPO.match(name) or "*" in name or name.split("/")[0] not in TOP_LEVEL:
                    continue  # not a repository path (an image name, a ratio, a path on the reader's host)
                if not ((REPO / name).exists() or (REPO / "alstream" / name).exists()):
                    missing.append(f"{path.relative_to(REPO)}:{line_number}: {name}")
    assert not missing, "docs name files that do not exist:\n" + "\n".join(missing)


def test_security_doc_names_the_router_state_topic_as_acl_grants_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The router's state topic gets Read and Write, no prefixed (created-by-the-app) topics; the doc's
    access matrix says so."""
    for key in ("ALSTREAM_KAFKA__TOPIC_PREFIX", "ALSTREAM_ROUTER__GROUP_ID"):
        monkeypatch.delenv(key, raising=False)
    settings = load_settings()
    text = "\n".join(acl_commands(settings, {"router": "User:router"}))
    assert "--resource-pattern-type prefixed --topic" not in text
    assert f"--topic {settings.kafka.topic('router-state')}" in text
    doc = (REPO / "docs" / "security.md").read_text()
    header = next(line for line in doc.splitlines() if line.startswith("| role (principal)"))
    router = next(line for line in doc.splitlines() if line.startswith("| router |"))
    column = [c.strip() for c in header.split("|")].index("router-state")
    assert [c.strip() for c in router.split("|")][column] == "R+W"


def test_deploy_doc_prepare_line_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/deploy.md's `prepare('deploy/data')` (a str path) writes the three files the stack mounts."""
    from alstream.demo.dataset import prepare

    monkeypatch.chdir(tmp_path)
    prepare("deploy/data")
    assert {p.name for p in (tmp_path / "deploy" / "data").iterdir()} >= {
        "qa_gold.csv",
        "validation.npz",
        "seed.npz",
    }
