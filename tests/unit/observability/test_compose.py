"""Static checks of deploy/compose.yaml, deploy/Dockerfile and deploy/prometheus/prometheus.yml.

No container engine runs here, so instead of starting the stack this checks what usually breaks it:
floating image tags, mounts of files that do not exist, settings the code does not understand,
commands the CLI does not have, and Prometheus scraping something other than what runs.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
import typer.main
import yaml

from alstream.cli.commands.agent import runnable_agents
from alstream.cli.main import app
from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.topics import spec

PINNED = re.compile(r"^[a-z0-9./_-]+:(?!latest$)[\w][\w.-]*(@sha256:[0-9a-f]{64})?$")
# Environment variables alstream reads outside the settings object.
NON_SETTINGS_ENV = {"KAFKA_BOOTSTRAP_SERVERS", "ALSTREAM_CONFIG", "ALSTREAM_SCHEMA_DIR"}


@pytest.fixture(scope="module")
def deploy(repo: Path) -> Path:
    return repo / "deploy"


@pytest.fixture(scope="module")
def compose(deploy: Path) -> dict:
    return yaml.safe_load((deploy / "compose.yaml").read_text())


def _alstream_services(compose: dict) -> dict[str, dict]:
    """The services that run the alstream image with its own entrypoint (`alstream ...`)."""
    return {name: s for name, s in compose["services"].items() if "build" in s and "entrypoint" not in s}


def _agent_services(compose: dict) -> dict[str, dict]:
    return {name: s for name, s in _alstream_services(compose).items() if s["command"][:1] == ["agent"]}


def test_images_are_pinned(compose: dict) -> None:
    for name, service in compose["services"].items():
        assert "image" in service, f"{name}: no image"
        assert PINNED.match(service["image"]), (
            f"{name}: image {service['image']!r} is not pinned to a version"
        )
    images = {s["image"].split(":")[0] for s in compose["services"].values()}
    assert {"apache/kafka", "prom/prometheus", "grafana/grafana"} <= images


def test_build_context_and_dockerfile(compose: dict, deploy: Path) -> None:
    services = _alstream_services(compose)
    assert services
    for name, service in services.items():
        context = (deploy / service["build"]["context"]).resolve()
        assert (context / "pyproject.toml").is_file(), (
            f"{name}: build context {context} is not the repository"
        )
        dockerfile = context / service["build"]["dockerfile"]
        assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
    text = (deploy / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert re.search(r"^RUN pip install \.$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["alstream"\]$', text, re.M)
    for source in re.findall(r"^COPY (\S+)", text, re.M):
        assert (deploy.parent / source).exists(), (
            f"Dockerfile copies {source}, which is not in the repository"
        )


def test_mounted_files_exist_and_volumes_are_declared(compose: dict, deploy: Path) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source, target = mount.split(":")[:2]
            assert target.startswith("/"), f"{name}: {mount}"
            if source.startswith((".", "/")):
                assert (deploy / source).exists(), (
                    f"{name}: mounts {source}, which does not exist in the repository"
                )
            else:
                assert source in declared, f"{name}: named volume {source} is not declared"


def test_depends_on_and_ports(compose: dict) -> None:
    services = compose["services"]
    host_ports = []
    for name, service in services.items():
        depends = service.get("depends_on", {})
        for other in depends if isinstance(depends, list) else depends.keys():
            assert other in services, f"{name} depends on unknown service {other}"
        for port in service.get("ports", []):
            parts = str(port).split(":")
            host_ports.append(parts[-2])
            if name != "kafka":  # only Kafka's SASL_SSL listener faces the network
                assert parts[0] == "127.0.0.1", f"{name} publishes {port} beyond loopback"
    assert len(host_ports) == len(set(host_ports)), f"host port published twice: {host_ports}"
    assert {"9090", "3000", "29092"} <= set(host_ports)
    assert services["topics-init"]["command"] == ["topics", "create"]
    assert services["topics-init"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    # topics and agents start only after the ACLs are in place
    assert services["topics-init"]["depends_on"]["acl-apply"]["condition"] == "service_completed_successfully"
    for name in _agent_services(compose):
        assert services[name]["depends_on"]["topics-init"]["condition"] == "service_completed_successfully"


def test_environment_is_understood_by_alstream_settings(
    compose: dict, deploy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dockerfile_env = dict(re.findall(r"(ALSTREAM_\w+)=(\S+)", (deploy / "Dockerfile").read_text()))
    for name, service in _alstream_services(compose).items():
        env = {**dockerfile_env, **{k: str(v) for k, v in service["environment"].items()}}
        for key in env:
            if key in NON_SETTINGS_ENV:
                continue
            assert key.startswith("ALSTREAM_"), f"{name}: {key} is not an alstream setting"
            section, _, field = key.removeprefix("ALSTREAM_").lower().partition("__")
            assert section in AlstreamSettings.model_fields, f"{name}: {key}: no settings section {section!r}"
            assert field in AlstreamSettings.model_fields[section].annotation.model_fields, (
                f"{name}: {key}: unknown"
            )
        for key in list(__import__("os").environ):
            if key.startswith("ALSTREAM_") or key == "KAFKA_BOOTSTRAP_SERVERS":
                monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("ALSTREAM_CONFIG", str(deploy / "alstream.toml"))  # the file mounted there
        monkeypatch.setenv("ALSTREAM_KAFKA__SSL_CAFILE", str(deploy / "compose.yaml"))  # tls-init's file
        settings = load_settings()
        assert settings.kafka.bootstrap_servers == "kafka:9092"
        assert settings.metrics.port == 9400
        # every alstream client logs in over TLS as its own principal, with a password from deploy/.env
        assert settings.kafka.security_protocol == "SASL_SSL", name
        assert env["ALSTREAM_KAFKA__SASL_USERNAME"] in {"operator", name}, name
        assert env["ALSTREAM_KAFKA__SASL_PASSWORD"].startswith("${PASSWORD_"), name
        assert len(settings.task.classes) >= 2


def _resolve(args: list[str]) -> click.Command:
    """The CLI command ``alstream ARGS`` would run, with ARGS parsed by it (nothing is invoked)."""
    command = typer.main.get_command(app)
    ctx = command.make_context("alstream", [], resilient_parsing=True)
    rest = list(args)
    while hasattr(command, "get_command") and rest:
        word = rest.pop(0)
        sub = command.get_command(ctx, word)
        assert sub is not None, f"`alstream {' '.join(args)}`: no command {word!r}"
        command = sub
        ctx = command.make_context(word, list(rest), parent=ctx)  # raises on unknown options or arguments
    return command


def test_commands_are_real_alstream_commands(compose: dict) -> None:
    for name, service in _alstream_services(compose).items():
        command = _resolve(service["command"])
        assert command.name in {"create", "agent"}, f"{name}: {service['command']}"
    render = compose["services"]["acl-render"]["command"][0]
    args = render.split(" > ")[0].split()
    assert args[0] == "alstream"
    _resolve(args[1:])


def test_every_agent_runs_and_the_scorer_scales(compose: dict) -> None:
    agents = {name: service["command"][1] for name, service in _agent_services(compose).items()}
    assert sorted(agents.values()) == [
        "agreement",
        "labels",
        "release",
        "router",
        "scorer",
        "tool-gateway",
        "trainer",
    ]
    missing = sorted(set(agents.values()) - set(runnable_agents()))
    assert not missing, f"compose runs agents that `alstream agent` cannot start yet: {missing}"
    replicas = compose["services"]["scorer"]["deploy"]["replicas"]
    assert 1 < replicas <= spec("items").partitions


def test_prometheus_scrapes_every_agent_service(compose: dict, deploy: Path) -> None:
    config = yaml.safe_load((deploy / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for name in _agent_services(compose):
        job = jobs.get(f"alstream-{name}")
        assert job is not None, f"no scrape job for {name}"
        (sd,) = job["dns_sd_configs"]
        assert sd["names"] == [name] and sd["port"] == 9400
    mounts = compose["services"]["prometheus"]["volumes"]
    assert "./prometheus/rules:/etc/prometheus/rules:ro" in mounts
    assert config["rule_files"] == ["rules/*.yml"]


def test_settings_files_the_stack_points_at_exist(
    compose: dict, deploy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Policy and quotas come from the repository through read-only mounts; the data dir is documented."""
    monkeypatch.setenv("ALSTREAM_CONFIG", str(deploy / "alstream.toml"))
    settings = load_settings()
    mounts = {}
    for mount in compose["services"]["scorer"]["volumes"]:
        source, target = mount.split(":")[:2]
        mounts[target] = source
    for path in (settings.paths.policy_file, settings.paths.quotas_file):
        assert path is not None
        target_dir = str(path.parent)
        assert target_dir in mounts, f"{path} is not under a mounted directory"
        assert (deploy / mounts[target_dir] / path.name).is_file(), f"{path} does not exist in the repository"
    assert mounts.get("/data") == "./data"
    readme = (deploy / "data" / "README.md").read_text()
    for path in (settings.paths.qa_gold_file, settings.trainer.validation_file, settings.trainer.seed_file):
        assert path is not None and str(path).startswith("/data/") and path.name in readme


def test_compose_matches_the_compose_specification(deploy: Path) -> None:
    """What `docker compose config` checks first, offline: the file against the compose-spec JSON schema
    (vendored by check-jsonschema; no Docker engine or compose plugin runs here)."""
    import json
    from importlib.resources import files

    import jsonschema

    schema = json.loads((files("check_jsonschema") / "builtin_schemas/vendor/compose-spec.json").read_text())
    document = yaml.safe_load((deploy / "compose.yaml").read_text())
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_no_plaintext_listener_and_an_authorizer_that_denies_by_default(deploy: Path, compose: dict) -> None:
    """Kafka's listeners, from the script that writes its server.properties."""
    script = (deploy / "kafka" / "start-kafka.sh").read_text()
    properties = dict(
        line.split("=", 1)
        for line in script.splitlines()
        if re.match(r"^[a-z.]+=", line) and "\\" not in line
    )
    protocols = dict(pair.split(":") for pair in properties["listener.security.protocol.map"].split(","))
    listeners = [entry.split("://")[0] for entry in properties["listeners"].split(",")]
    assert all(protocols[name] in {"SASL_SSL", "SSL"} for name in listeners), protocols
    assert "PLAINTEXT" not in protocols.values() and "SASL_PLAINTEXT" not in protocols.values()
    assert properties["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert properties["listener.name.controller.ssl.client.auth"] == "required"
    assert properties["authorizer.class.name"].endswith("StandardAuthorizer")
    assert properties["allow.everyone.if.no.acl.found"] == "false"
    kafka = compose["services"]["kafka"]
    assert kafka["ports"] == ["29092:9094"]  # the EXTERNAL listener, SASL_SSL
    assert "EXTERNAL:SASL_SSL" in properties["listener.security.protocol.map"]
    assert ":9094" in properties["listeners"] and "KAFKA_LISTENERS" not in kafka["environment"]
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key:
                assert str(value).startswith("${") and ":?" in str(value), f"{name}: {key} has a default"
