"""Settings: source precedence, security validation, secrets hygiene and errors that name the fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alstream.exceptions import ConfigError
from alstream.settings import CONFIG_FILE_ENV, load_settings
from alstream.streams.kafka_config import consumer_config, producer_config


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ambient ALSTREAM_* / KAFKA_* variable leaks in; load_settings(config_file=) is undone after."""
    monkeypatch.setenv(CONFIG_FILE_ENV, "placeholder")  # records the original value for restoration
    for name in list(os.environ):
        if name.startswith("ALSTREAM_") or name == "KAFKA_BOOTSTRAP_SERVERS":
            monkeypatch.delenv(name)


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "alstream.toml"
    path.write_text(text)
    return path


def test_defaults_need_no_configuration() -> None:
    settings = load_settings()
    assert settings.kafka.bootstrap_servers is None
    assert settings.kafka.topic("items") == "alstream.items"
    assert settings.ingest.embedding_dim == 64
    with pytest.raises(ConfigError, match="KAFKA_BOOTSTRAP_SERVERS"):
        settings.kafka.require_bootstrap()


def test_precedence_init_over_env_over_plain_kafka_var_over_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = _toml(
        tmp_path,
        '[kafka]\nbootstrap_servers = "toml:1"\ntopic_prefix = "fromtoml."\nclient_id = "toml-client"\n'
        "[ingest]\nembedding_dim = 8\n",
    )
    monkeypatch.setenv(CONFIG_FILE_ENV, str(toml))
    assert load_settings().kafka.bootstrap_servers == "toml:1"

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "plain:1")
    assert load_settings().kafka.bootstrap_servers == "plain:1"

    monkeypatch.setenv("ALSTREAM_KAFKA__BOOTSTRAP_SERVERS", "env:1")
    monkeypatch.setenv("ALSTREAM_KAFKA__CLIENT_ID", "env-client")
    settings = load_settings()
    assert settings.kafka.bootstrap_servers == "env:1"
    assert settings.kafka.client_id == "env-client"
    # fields no higher source sets still come from the TOML file (sections merge, not replace)
    assert settings.kafka.topic_prefix == "fromtoml."
    assert settings.ingest.embedding_dim == 8

    settings = load_settings(kafka={"bootstrap_servers": "init:1"})
    assert settings.kafka.bootstrap_servers == "init:1"
    assert settings.kafka.client_id == "env-client"
    assert settings.kafka.topic_prefix == "fromtoml."


def test_config_file_argument_is_read(tmp_path: Path) -> None:
    toml = _toml(tmp_path, '[task]\nclasses = ["cat", "dog"]\n')
    assert load_settings(toml).task.require_classes() == ["cat", "dog"]


def test_missing_config_file_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="--config"):
        load_settings(tmp_path / "nope.toml")
    monkeypatch.setenv(CONFIG_FILE_ENV, str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match=CONFIG_FILE_ENV):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ALSTREAM_INGEST__EMBEDDING_DIM", "sixty-four"),
        ("ALSTREAM_KAFKA__SESSION_TIMEOUT_MS", "5"),
        ("ALSTREAM_KAFKA__SECURITY_PROTOCOL", "SASL_GSSAPI"),
        ("ALSTREAM_KAFKA__TOPIC_PREFIX", "bad prefix/"),
        ("ALSTREAM_METRICS__PORT", "70000"),
    ],
)
def test_invalid_value_names_its_env_var(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert name in str(caught.value)


def test_unknown_setting_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(kafka={"bootstrap_server": "typo:1"})


def test_task_needs_two_distinct_classes(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="ALSTREAM_TASK__CLASSES"):
        load_settings().task.require_classes()
    monkeypatch.setenv("ALSTREAM_TASK__CLASSES", '["a", "a"]')
    with pytest.raises(ConfigError, match="distinct"):
        load_settings()


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_scram_reaches_client_configs(monkeypatch: pytest.MonkeyPatch, mechanism: str) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker:9092")
    monkeypatch.setenv("ALSTREAM_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("ALSTREAM_KAFKA__SASL_MECHANISM", mechanism)
    monkeypatch.setenv("ALSTREAM_KAFKA__SASL_USERNAME", "svc")
    monkeypatch.setenv("ALSTREAM_KAFKA__SASL_PASSWORD", "s3cret-pw")
    settings = load_settings()
    for conf in (producer_config(settings), consumer_config(settings, group_id="g")):
        assert conf["security.protocol"] == "SASL_PLAINTEXT"
        assert conf["sasl.mechanism"] == mechanism
        assert conf["sasl.username"] == "svc"
        assert conf["sasl.password"] == "s3cret-pw"


def test_sasl_without_credentials_names_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALSTREAM_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("ALSTREAM_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "ALSTREAM_KAFKA__SASL_USERNAME" in str(caught.value)
    assert "ALSTREAM_KAFKA__SASL_PASSWORD" in str(caught.value)


def test_unsupported_sasl_mechanism_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALSTREAM_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("ALSTREAM_KAFKA__SASL_MECHANISM", "PLAIN")
    with pytest.raises(ConfigError, match="ALSTREAM_KAFKA__SASL_MECHANISM"):
        load_settings()


def test_mechanism_without_sasl_protocol_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALSTREAM_KAFKA__SASL_MECHANISM", "SCRAM-SHA-256")
    with pytest.raises(ConfigError, match="ALSTREAM_KAFKA__SECURITY_PROTOCOL"):
        load_settings()


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL"])
@pytest.mark.parametrize(
    "credentials",
    [
        {"ALSTREAM_KAFKA__SASL_USERNAME": "scorer", "ALSTREAM_KAFKA__SASL_PASSWORD": "wrong-pw-111"},
        {"ALSTREAM_KAFKA__SASL_USERNAME": "scorer"},
        {"ALSTREAM_KAFKA__SASL_PASSWORD": "wrong-pw-111"},
    ],
)
def test_credentials_with_a_protocol_that_never_sends_them_are_refused(
    monkeypatch: pytest.MonkeyPatch, protocol: str, credentials: dict[str, str], tmp_path: Path
) -> None:
    """A username and password while the protocol stays PLAINTEXT (or TLS only) would connect
    anonymously and look like it logged in: a configuration error naming the fix, never silence."""
    if protocol == "SSL":
        ca = tmp_path / "ca.pem"
        ca.write_text("-----BEGIN CERTIFICATE-----\n")
        monkeypatch.setenv("ALSTREAM_KAFKA__SSL_CAFILE", str(ca))
    monkeypatch.setenv("ALSTREAM_KAFKA__SECURITY_PROTOCOL", protocol)
    for name, value in credentials.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match="ALSTREAM_KAFKA__SECURITY_PROTOCOL=SASL_SSL") as caught:
        load_settings()
    assert "wrong-pw-111" not in str(caught.value)


def test_metrics_bind_to_loopback_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().metrics.host == "127.0.0.1"
    monkeypatch.setenv("ALSTREAM_METRICS__HOST", "0.0.0.0")
    assert load_settings().metrics.host == "0.0.0.0"


def test_tls_files_must_exist_and_reach_client_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker:9093")
    monkeypatch.setenv("ALSTREAM_KAFKA__SECURITY_PROTOCOL", "SSL")
    monkeypatch.setenv("ALSTREAM_KAFKA__SSL_CAFILE", str(tmp_path / "missing-ca.pem"))
    with pytest.raises(ConfigError, match="ALSTREAM_KAFKA__SSL_CAFILE"):
        load_settings()
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("ALSTREAM_KAFKA__SSL_CAFILE", str(ca))
    monkeypatch.setenv("ALSTREAM_KAFKA__SSL_CHECK_HOSTNAME", "false")
    conf = producer_config(load_settings())
    assert conf["security.protocol"] == "SSL"
    assert conf["ssl.ca.location"] == str(ca)
    assert conf["ssl.endpoint.identification.algorithm"] == "none"


def test_secrets_never_print(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALSTREAM_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("ALSTREAM_KAFKA__SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("ALSTREAM_KAFKA__SASL_USERNAME", "svc")
    monkeypatch.setenv("ALSTREAM_KAFKA__SASL_PASSWORD", "kafka-pw-123")
    monkeypatch.setenv("ALSTREAM_KAFKA__SSL_KEY_PASSWORD", "key-pw-456")
    monkeypatch.setenv("ALSTREAM_CODEC__WIRE_FORMAT", "confluent")
    monkeypatch.setenv("ALSTREAM_CODEC__SCHEMA_REGISTRY_URL", "http://registry:8081")
    monkeypatch.setenv("ALSTREAM_CODEC__SCHEMA_REGISTRY_PASSWORD", "registry-pw-789")
    settings = load_settings()
    rendered = [
        repr(settings),
        str(settings),
        settings.model_dump_json(),
        repr(settings.kafka),
        str(settings.kafka),
    ]
    for text in rendered:
        for secret in ("kafka-pw-123", "key-pw-456", "registry-pw-789"):
            assert secret not in text
    assert settings.kafka.sasl_password is not None
    assert settings.kafka.sasl_password.get_secret_value() == "kafka-pw-123"


def test_secret_not_echoed_in_validation_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALSTREAM_KAFKA__SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("ALSTREAM_KAFKA__SASL_PASSWORD", "leaky-pw-000")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "leaky-pw-000" not in str(caught.value)


def test_confluent_wire_format_needs_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALSTREAM_CODEC__WIRE_FORMAT", "confluent")
    with pytest.raises(ConfigError, match="ALSTREAM_CODEC__SCHEMA_REGISTRY_URL"):
        load_settings()


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(Exception, match="frozen"):
        settings.kafka.client_id = "other"  # type: ignore[misc]


# --- settings from an explicit mapping and file; streams/ takes only [kafka] and [codec] ------------


def test_settings_come_from_the_given_environment_and_file_and_nothing_is_written(tmp_path: Path) -> None:
    toml = _toml(tmp_path, '[kafka]\ntopic_prefix = "fromfile."\n[task]\nclasses = ["a", "b"]\n')
    before = dict(os.environ)
    settings = load_settings(
        toml,
        environ={"KAFKA_BOOTSTRAP_SERVERS": "given:1", "ALSTREAM_KAFKA__CLIENT_ID": "given-client"},
    )
    assert dict(os.environ) == before, "load_settings must not write the process environment"
    assert settings.kafka.bootstrap_servers == "given:1"
    assert settings.kafka.client_id == "given-client"
    assert settings.kafka.topic_prefix == "fromfile."
    assert settings.task.classes == ["a", "b"]
    # the process environment is not read when a mapping is given
    os.environ["ALSTREAM_KAFKA__CLIENT_ID"] = "ambient"
    try:
        assert load_settings(environ={}).kafka.client_id == "alstream"
    finally:
        del os.environ["ALSTREAM_KAFKA__CLIENT_ID"]


def test_a_config_file_named_in_the_given_environment_is_read(tmp_path: Path) -> None:
    toml = _toml(tmp_path, '[kafka]\ntopic_prefix = "viaenv."\n')
    assert load_settings(environ={CONFIG_FILE_ENV: str(toml)}).kafka.topic_prefix == "viaenv."
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(environ={CONFIG_FILE_ENV: str(tmp_path / "missing.toml")})


def test_streams_takes_only_the_kafka_and_codec_sections() -> None:
    from alstream.settings import StreamsSettings
    from alstream.streams.codecs import codec_for
    from alstream.streams.config import KafkaSettings

    settings = load_settings(environ={"KAFKA_BOOTSTRAP_SERVERS": "b:1"})
    narrow = settings.streams
    assert isinstance(narrow, StreamsSettings) and narrow.kafka == settings.kafka
    assert producer_config(narrow) == producer_config(settings) == producer_config(settings.kafka)
    assert codec_for("items", narrow).topic_key == "items"
    assert isinstance(narrow.kafka, KafkaSettings)


def test_embedded_broker_workarounds_apply_only_when_the_flag_is_set() -> None:
    plain = load_settings(environ={"KAFKA_BOOTSTRAP_SERVERS": "b:1"})
    embedded = load_settings(
        environ={"KAFKA_BOOTSTRAP_SERVERS": "b:1", "ALSTREAM_KAFKA__EMBEDDED_BROKER": "true"}
    )
    assert "fetch.wait.max.ms" not in consumer_config(plain, group_id="g")  # librdkafka's default
    assert consumer_config(embedded, group_id="g")["fetch.wait.max.ms"] == 10


def test_clients_read_any_record_and_produce_within_the_configured_limits() -> None:
    settings = load_settings(
        environ={
            "KAFKA_BOOTSTRAP_SERVERS": "b:1",
            "ALSTREAM_KAFKA__MAX_MESSAGE_BYTES": "5000000",
            "ALSTREAM_KAFKA__OUTAGE_TOLERANCE_S": "900",
        }
    )
    consumer = consumer_config(settings, group_id="g")
    assert consumer["receive.message.max.bytes"] >= 256 * 1024 * 1024 + consumer["fetch.max.bytes"]
    producer = producer_config(settings)
    assert producer["message.max.bytes"] == 5_000_000
    assert producer["delivery.timeout.ms"] == 900_000


def test_router_transactions_need_a_stable_instance_id() -> None:
    """A transactional id that changed per process would leave a killed router's transaction open, and
    the annotation tools reading assignments read_committed waiting, until the broker times it out."""
    with pytest.raises(ConfigError, match="ALSTREAM_ROUTER__INSTANCE_ID"):
        load_settings(environ={"ALSTREAM_ROUTER__TRANSACTIONS": "true"})
    settings = load_settings(
        environ={"ALSTREAM_ROUTER__TRANSACTIONS": "true", "ALSTREAM_ROUTER__INSTANCE_ID": "router-0"}
    )
    assert settings.router.transactions and settings.router.instance_id == "router-0"
