"""One typed settings object for every alstream process.

Sources, highest priority first: keyword arguments, ``ALSTREAM_*`` environment variables (nested
sections use ``__``, e.g. ``ALSTREAM_KAFKA__SASL_USERNAME``), ``KAFKA_BOOTSTRAP_SERVERS``, an optional
TOML file (``ALSTREAM_CONFIG`` or ``--config``), then defaults. :func:`load_settings` reads them from
an explicit environment mapping (the process's own by default) and file, and never writes the
process environment: a parent passes settings to a child through the child's environment or a
config file. Secrets are ``SecretStr`` so they never print. Errors surface as
:class:`alstream.exceptions.ConfigError` naming the variable to fix.

The ``[kafka]`` and ``[codec]`` sections are defined by the Kafka plumbing (:mod:`alstream.streams.config`),
which takes only those two.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
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
from alstream.agents.tool_gateway.config import ToolGatewaySettings
from alstream.agents.trainer.config import TrainerSettings
from alstream.config_base import Section as _Section
from alstream.contracts.config import ContractsSettings
from alstream.exceptions import ConfigError
from alstream.security.identity import IdentitySettings
from alstream.streams.config import CodecSettings, KafkaSettings, StreamsSettings

__all__ = [
    "AlstreamSettings",
    "CodecSettings",
    "KafkaSettings",
    "StreamsSettings",
    "load_settings",
]

ENV_PREFIX = "ALSTREAM_"
CONFIG_FILE_ENV = "ALSTREAM_CONFIG"


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
            "labels 3, agreement 4, release 5, trainer 6, label-studio 7, tool-gateway 8), so every agent "
            "on one host gets its own port. 0 disables the endpoint. Replicas of one agent on one host "
            "need one each."
        ),
    )
    base_port: int = Field(
        default=9400,
        ge=1,
        le=65_535 - 16,
        description="Base of the default ports (agents use 9401-9408); `alstream status` scrapes them.",
    )
    host: str = Field(
        default="127.0.0.1",
        description=(
            "Address /metrics binds to. Loopback by default: the endpoint has no authentication. Set "
            "0.0.0.0 only where a network boundary keeps it private (a container network, as in "
            "deploy/compose.yaml)."
        ),
    )


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
    identity: IdentitySettings = IdentitySettings()
    tool_gateway: ToolGatewaySettings = ToolGatewaySettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        given = _SOURCES.get()
        environ = given.environ if given is not None else os.environ
        toml_path = given.config_file if given is not None else environ.get(CONFIG_FILE_ENV)
        sources: list[PydanticBaseSettingsSource] = [
            init_settings,
            _MappingEnvSource(settings_cls, environ),
            _PlainKafkaEnvSource(settings_cls, environ),
        ]
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_path)))
        return tuple(sources)

    @property
    def streams(self) -> StreamsSettings:
        """Only the ``[kafka]`` and ``[codec]`` sections: what the Kafka plumbing takes."""
        return StreamsSettings(kafka=self.kafka, codec=self.codec)


@dataclass(frozen=True)
class _Sources:
    """Where one :func:`load_settings` call reads from (a context variable carries it to the sources)."""

    environ: Mapping[str, str]
    config_file: str | None


_SOURCES: ContextVar[_Sources | None] = ContextVar("alstream_settings_sources", default=None)


class _MappingEnvSource(EnvSettingsSource):
    """``ALSTREAM_*`` variables from a given mapping instead of the process environment."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        if self.case_sensitive:
            return dict(self._environ)
        return {name.lower(): value for name, value in self._environ.items()}


class _PlainKafkaEnvSource(PydanticBaseSettingsSource):
    """Honours the conventional ``KAFKA_BOOTSTRAP_SERVERS`` that every Kafka tool understands."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self._environ = environ

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        servers = self._environ.get("KAFKA_BOOTSTRAP_SERVERS")
        return {"kafka": {"bootstrap_servers": servers}} if servers else {}


def load_settings(
    config_file: Path | str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> AlstreamSettings:
    """Build the settings or raise :class:`ConfigError` saying which setting to fix and how.

    ``environ`` is the environment to read (``os.environ`` when None); ``config_file`` the TOML file
    (else ``ALSTREAM_CONFIG`` in that environment). Nothing is written anywhere.
    """
    env = os.environ if environ is None else environ
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"Config file {path} does not exist: fix --config / {CONFIG_FILE_ENV}.")
        toml_path: str | None = str(path)
    else:
        toml_path = env.get(CONFIG_FILE_ENV) or None
        if toml_path and not Path(toml_path).is_file():
            raise ConfigError(f"{CONFIG_FILE_ENV}={toml_path} does not exist: fix or unset it.")
    token = _SOURCES.set(_Sources(environ=dict(env), config_file=toml_path))
    try:
        return AlstreamSettings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_explain(exc)) from None
    finally:
        _SOURCES.reset(token)


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
