"""``alstream acl`` and the access matrix: least privilege, every role's needs covered, no broker needed."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from alstream.cli.main import app
from alstream.security.acl import acl_commands, grants, roles
from alstream.settings import load_settings
from alstream.streams.topics import CATALOGUE

ALL = {
    "--principal-ingest": "User:ingest",
    "--principal-scorer": "User:scorer",
    "--principal-router": "User:router",
    "--principal-labels": "User:labels",
    "--principal-agreement": "User:agree",
    "--principal-release": "User:release",
    "--principal-trainer": "User:trainer",
    "--principal-operator": "User:sre",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALSTREAM_KAFKA__TOPIC_PREFIX", raising=False)
    monkeypatch.delenv("ALSTREAM_CONFIG", raising=False)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["acl", *args])
    return result.exit_code, result.output


def commands_of(output: str, principal: str) -> list[str]:
    return [line for line in output.splitlines() if f"--allow-principal {principal} " in line]


def test_every_role_prints_kafka_acls_commands(clean_env: None) -> None:
    args = [item for pair in ALL.items() for item in pair]
    code, output = run("--prefix", "prod.", "--bootstrap-server", "$BOOTSTRAP", *args)
    assert code == 0, output
    for principal in ALL.values():
        lines = commands_of(output, principal)
        assert lines, f"no ACLs for {principal}"
        assert all(line.startswith('kafka-acls --bootstrap-server "$BOOTSTRAP" --add') for line in lines)
    print(output)


def test_ingestion_may_write_items_only(clean_env: None) -> None:
    code, output = run("--prefix", "prod.", "--principal-ingest", "User:ingest")
    assert code == 0, output
    lines = commands_of(output, "User:ingest")
    topic_lines = [line for line in lines if "--topic" in line]
    assert topic_lines == [
        'kafka-acls --bootstrap-server "$BOOTSTRAP" --add --allow-principal User:ingest '
        "--operation Write --operation Describe --topic prod.items"
    ]
    assert not any("--operation Read" in line or "--group" in line for line in lines)


def test_each_annotation_tool_gets_only_its_own_topics(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALSTREAM_IDENTITY__TOOLS", '{"lt": ["ann-*"], "studio": ["ls-1"]}')
    code, output = run("--prefix", "p.", "--principal-tool-gateway", "User:gw")
    assert code == 0, output
    for tool in ("lt", "studio"):
        lines = commands_of(output, f"User:{tool}")
        reads = {m.group(1) for line in lines if (m := re.search(r"--operation Read .*--topic (\S+)$", line))}
        writes = {
            m.group(1) for line in lines if (m := re.search(r"--operation Write .*--topic (\S+)$", line))
        }
        assert reads == {f"p.tool.{tool}.assignments"}
        assert writes == {f"p.tool.{tool}.labels", f"p.tool.{tool}.annotator-events"}
        groups = [line for line in lines if "--group" in line]
        assert groups and all(f"--group alstream-annotate-p.{tool}." in line for line in groups)
    gateway = commands_of(output, "User:gw")
    written = {
        m.group(1) for line in gateway if (m := re.search(r"--operation Write .*--topic (\S+)$", line))
    }
    assert {"p.labels", "p.annotator-events", "p.tool.lt.assignments", "p.tool.studio.assignments"} <= written
    assert not any("p.tool.lt.labels" in line and "Write" in line for line in gateway)


def test_the_shared_annotation_principal_is_gone(clean_env: None) -> None:
    """No principal may write the shared labels topic but the gateway: the old shared role is refused."""
    code, output = run("--principal-annotation", "User:tool")
    assert code != 0 and "[identity] tools" in output
    code, output = run("--principal-tool-gateway", "User:gw")
    assert code != 0 and "ALSTREAM_IDENTITY__TOOLS" in output
    matrix = roles(load_settings())
    assert [r.name for r in matrix if "labels" in r.writes] == []


def test_matrix_covers_every_topic_and_every_agent_group(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALSTREAM_IDENTITY__TOOLS", '{"lt": ["ann-*"]}')  # tools reach labels via the gateway
    settings = load_settings()
    all_roles = {role.name: role for role in roles(settings)}
    written = {base for role in all_roles.values() for base in role.writes}
    read = {base for role in all_roles.values() for base in role.reads}
    catalogue = {spec.base_name for spec in CATALOGUE}
    assert catalogue <= written | {"dead-letters"}, f"nobody may write {catalogue - written}"
    # scores is an output for people and tools outside the loop (no agent reads it back)
    assert catalogue - {"annotator-events", "scores"} <= read | {"calibration", "annotator-events"}
    for agent in ("scorer", "router", "labels", "agreement", "release", "trainer"):
        group = settings.kafka.group_id(getattr(settings, agent).group_id)  # with the topic prefix
        assert any(g.resource == "group" and g.name == group for g in grants(all_roles[agent], settings)), (
            agent
        )
    router = grants(all_roles["router"], settings)
    state = settings.kafka.topic("router-state")
    operations = {op for g in router if g.resource == "topic" and g.name == state for op in g.operations}
    assert {"Read", "Write"} <= operations, "the router writes its shard changelog and reads it at restore"
    assert not any(g.prefixed and g.resource == "topic" for g in router), "the router creates no topics"


def test_bad_principal_and_no_principal_are_clear_errors(clean_env: None) -> None:
    code, output = run("--principal-ingest", "ingest")
    assert code != 0 and "User:name" in output
    code, output = run()
    assert code != 0 and "--principal-" in output
    with pytest.raises(ValueError, match="unknown role"):
        acl_commands(load_settings(), {"bogus": "User:x"})


def test_docs_table_matches_the_matrix(clean_env: None) -> None:
    """docs/security.md's access table says exactly what `alstream acl` grants."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[3] / "docs" / "security.md").read_text()
    header = next(line for line in doc.splitlines() if line.startswith("| role (principal)"))
    columns = [c.strip() for c in header.strip("|").split("|")]
    topics = columns[1:-1]
    rows = [
        line for line in doc.splitlines() if line.startswith("| ") and line.count("|") == header.count("|")
    ]
    matrix = {role.name: role for role in roles(load_settings())}
    checked = 0
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        name = cells[0].split()[0]
        if name not in matrix:
            continue
        role = matrix[name]
        documented_reads = {t for t, cell in zip(topics, cells[1:-1], strict=True) if "R" in cell}
        documented_writes = {t for t, cell in zip(topics, cells[1:-1], strict=True) if "W" in cell}
        assert documented_reads == set(role.reads), name
        assert documented_writes == set(role.writes), name
        checked += 1
    assert checked == len(matrix)
