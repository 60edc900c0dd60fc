"""One typed settings object for every alstream process.

Sources, highest priority first: keyword arguments, ``ALSTREAM_*`` environment variables (nested
sections use ``__``, e.g. ``ALSTREAM_KAFKA__SASL_USERNAME``), ``KAFKA_BOOTSTRAP_SERVERS``, an optional
TOML file (``ALSTREAM_CONFIG`` or ``--config``), then defaults. Secrets are ``SecretStr`` so they never
print. Errors surface as :class:`alstream.exceptions.ConfigError` naming the variable to fix.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from alstream.agents.agreement.config import AgreementSettings
from alstream.agents.label_studio.config import LabelStudioSettings
from alstream.agents.labels.config import LabelsSettings
from alstream.agents.release.config import ReleaseSettings
from alstream.agents.router.config import RouterSettings
from alstream.agents.scorer.config import ScorerSettings
from alstream.agents.trainer.config import TrainerSettings
from alstream.config_base import Section as _Section
from alstream.contracts.config import ContractsSettings
from alstream.exceptions import ConfigError

ENV_PREFIX = "ALSTREAM_"
CONFIG_FILE_ENV = "ALSTREAM_CONFIG"


class KafkaSettings(_Section):
    """Where the cluster is and how to authenticate to it."""

    bootstrap_servers: str | None = Field(
        default=None,
        description="Comma-separated host:port list. Also read from KAFKA_BOOTSTRAP_SERVERS.",
    )
    topic_prefix: str = Field(default="alstream.", description="Prefix of every topic name.")
    client_id: str = "alstream"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password: SecretStr | None = None
    ssl_check_hostname: bool = True
    session_timeout_ms: int = Field(default=10_000, ge=1_000)
    replication_factor: int = Field(default=1, ge=1)

    @field_validator("topic_prefix")
    @classmethod
    def _legal_topic_prefix(cls, value: str) -> str:
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        if not set(value) <= allowed:
            raise ValueError("may only contain letters, digits, '.', '_' and '-'")
        return value

    @model_validator(mode="after")
    def _security_is_consistent(self) -> KafkaSettings:
        uses_sasl = self.security_protocol.startswith("SASL")
        if uses_sasl and (not self.sasl_mechanism or not self.sasl_username or self.sasl_password is None):
            raise ValueError(
                f"security_protocol={self.security_protocol} needs sasl_mechanism, sasl_username and "
                "sasl_password (set ALSTREAM_KAFKA__SASL_MECHANISM, ALSTREAM_KAFKA__SASL_USERNAME and "
                "ALSTREAM_KAFKA__SASL_PASSWORD)"
            )
        if not uses_sasl and self.sasl_mechanism:
            raise ValueError(
                "sasl_mechanism is set but security_protocol does not use SASL: set "
                "ALSTREAM_KAFKA__SECURITY_PROTOCOL=SASL_PLAINTEXT or SASL_SSL"
            )
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{name}={path} is not a readable file (ALSTREAM_KAFKA__{name.upper()})")
        return self

    def require_bootstrap(self) -> str:
        """Return the bootstrap servers or fail with the fix, for commands that need a cluster."""
        if not self.bootstrap_servers:
            raise ConfigError(
                "No Kafka cluster configured: "
                "set KAFKA_BOOTSTRAP_SERVERS (or ALSTREAM_KAFKA__BOOTSTRAP_SERVERS) "
                "to host:port, or start one with `alstream broker`."
            )
        return self.bootstrap_servers

    def topic(self, base_name: str) -> str:
        return f"{self.topic_prefix}{base_name}"


class CodecSettings(_Section):
    """How record values are framed on the wire."""

    wire_format: Literal["single-object", "confluent"] = "single-object"
    schema_registry_url: str | None = None
    schema_registry_username: str | None = None
    schema_registry_password: SecretStr | None = None

    @model_validator(mode="after")
    def _registry_for_confluent(self) -> CodecSettings:
        if self.wire_format == "confluent" and not self.schema_registry_url:
            raise ValueError(
                "wire_format=confluent needs a schema registry: set ALSTREAM_CODEC__SCHEMA_REGISTRY_URL"
            )
        return self


class IngestSettings(_Section):
    """What a valid item looks like, agreed between producers and the scorer."""

    embedding_dim: int = Field(default=64, ge=1, le=65_536)
    max_id_length: int = Field(default=256, ge=1)
    probability_tolerance: float = Field(default=1e-3, gt=0, lt=0.5)
    max_in_flight_messages: int = Field(default=200_000, ge=1_000)


class TaskSettings(_Section):
    """The labeling task: its label values, in order. Owned by the labeling lead."""

    name: str = "default"
    classes: list[str] = Field(default_factory=list, description='Label values, e.g. ["cat", "dog"].')

    @field_validator("classes")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("label values must be distinct")
        return value

    def require_classes(self) -> list[str]:
        if len(self.classes) < 2:
            raise ConfigError(
                "The task needs at least two label values: set [task] classes in the TOML file or "
                'ALSTREAM_TASK__CLASSES=\'["a", "b"]\''
            )
        return self.classes


class PathsSettings(_Section):
    """Files the roles own and where local state lives."""

    state_dir: Path = Field(
        default=Path(".alstream"), description="Local state: model artifacts, releases, logs."
    )
    policy_file: Path | None = Field(default=None, description="The ML owner's selection policy (TOML).")
    quotas_file: Path | None = Field(default=None, description="The labeling lead's quotas (TOML).")
    qa_gold_file: Path | None = Field(default=None, description="Stable QA gold set: item_id,label CSV.")


class MetricsSettings(_Section):
    """Where each agent serves /metrics. Unset port: base_port + the agent's offset; 0 disables it."""

    port: int | None = Field(
        default=None,
        ge=0,
        le=65_535,
        description=(
            "This process's /metrics port. Unset: base_port plus the agent's offset (scorer 1, router 2, "
            "labels 3, agreement 4, release 5, trainer 6, label-studio 7), so every agent on one host "
            "gets its own port. 0 disables the endpoint. Replicas of one agent on one host need one each."
        ),
    )
    base_port: int = Field(
        default=9400,
        ge=1,
        le=65_535 - 16,
        description="Base of the default ports (agents use 9401-9407); `alstream status` scrapes them.",
    )
    host: str = "0.0.0.0"


class AlstreamSettings(BaseSettings):
    """Every setting of an alstream process. Sections are owned by the roles named in their docs."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    kafka: KafkaSettings = KafkaSettings()
    codec: CodecSettings = CodecSettings()
    ingest: IngestSettings = IngestSettings()
    contracts: ContractsSettings = ContractsSettings()
    metrics: MetricsSettings = MetricsSettings()
    task: TaskSettings = TaskSettings()
    paths: PathsSettings = PathsSettings()
    scorer: ScorerSettings = ScorerSettings()
    router: RouterSettings = RouterSettings()
    labels: LabelsSettings = LabelsSettings()
    agreement: AgreementSettings = AgreementSettings()
    release: ReleaseSettings = ReleaseSettings()
    trainer: TrainerSettings = TrainerSettings()
    label_studio: LabelStudioSettings = LabelStudioSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            env_settings,
            _PlainKafkaEnvSource(settings_cls),
        ]
        toml_path = os.environ.get(CONFIG_FILE_ENV)
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_path)))
        return tuple(sources)


class _PlainKafkaEnvSource(PydanticBaseSettingsSource):
    """Honours the conventional ``KAFKA_BOOTSTRAP_SERVERS`` that every Kafka tool understands."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        return {"kafka": {"bootstrap_servers": servers}} if servers else {}


def load_settings(config_file: Path | str | None = None, **overrides: Any) -> AlstreamSettings:
    """Build the settings or raise :class:`ConfigError` saying which setting to fix and how."""
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"Config file {path} does not exist: fix --config / {CONFIG_FILE_ENV}.")
        os.environ[CONFIG_FILE_ENV] = str(path)
    elif os.environ.get(CONFIG_FILE_ENV) and not Path(os.environ[CONFIG_FILE_ENV]).is_file():
        raise ConfigError(f"{CONFIG_FILE_ENV}={os.environ[CONFIG_FILE_ENV]} does not exist: fix or unset it.")
    try:
        return AlstreamSettings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_explain(exc)) from None


def _explain(exc: ValidationError) -> str:
    lines = ["Invalid alstream settings:"]
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        env_name = ENV_PREFIX + "__".join(location).upper()
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting (check its spelling against docs/configuration.md)"
        lines.append(f"  - {'.'.join(location) or 'settings'} ({env_name}): {message}")
    return "\n".join(lines)
