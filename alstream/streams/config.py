"""The settings the Kafka plumbing needs: where the cluster is, how to talk to it, how values are framed.

``streams/`` takes these two sections (or anything that carries them as ``.kafka`` and ``.codec``,
such as the process-wide settings object), never the whole settings: it knows nothing about agents.
The sections are part of ``alstream.settings.AlstreamSettings`` (``[kafka]`` and ``[codec]``), and
:class:`StreamsSettings` bundles them for code that has no other settings (tools, tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from pydantic import Field, SecretStr, field_validator, model_validator

from alstream.config_base import Section
from alstream.exceptions import ConfigError

# Apache Kafka's default ``message.max.bytes``: the largest record batch a broker accepts.
KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588


class KafkaSettings(Section):
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
    max_message_bytes: int = Field(
        default=KAFKA_DEFAULT_MAX_MESSAGE_BYTES,
        ge=64 * 1024,
        description=(
            "Largest record alstream produces: set it to the cluster's message.max.bytes (and the "
            "topics' max.message.bytes). A dead letter of a larger original carries a truncated prefix, "
            "its size and SHA-256 instead. Readers accept records of any size the broker hands out."
        ),
    )
    outage_tolerance_s: float = Field(
        default=600.0,
        ge=1.0,
        description=(
            "How long a client keeps retrying through a broker outage before it reports a failure: a "
            "producer's delivery timeout, a CLI command waiting for the cluster. Agents wait as long "
            "as it takes (and say so in their logs and the alstream_agent_broker_up metric)."
        ),
    )
    embedded_broker: bool = Field(
        default=False,
        description=(
            "The cluster is the embedded Tansu broker (the demo, the tests, `alstream broker`): turns "
            "on the workarounds for its measured gaps (docs/embedded-broker.md). Never set it for "
            "Apache Kafka."
        ),
    )

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
        if not uses_sasl:
            # Credentials the protocol would never send mean the operator believes the client logs in
            # while it connects anonymously: refuse, rather than run unauthenticated.
            given = [
                name
                for name in ("sasl_mechanism", "sasl_username", "sasl_password")
                if getattr(self, name) is not None
            ]
            if given:
                raise ValueError(
                    f"{', '.join(given)} set but security_protocol={self.security_protocol} sends no SASL "
                    "credentials: set ALSTREAM_KAFKA__SECURITY_PROTOCOL=SASL_SSL (or SASL_PLAINTEXT), or "
                    "unset the credentials"
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

    def group_id(self, name: str) -> str:
        """The consumer group ``name`` of this deployment: it carries the topic prefix, as the topics do,
        so deployments (or tests) with different prefixes on one cluster never share a group (a member
        of one would hold partitions, or stall a rebalance, of the other's). Every consumer group an
        agent joins, and every place that names one (``alstream status`` lag, the ACL matrix), is
        built here."""
        return f"{self.topic_prefix}{name}"

    @property
    def uses_security(self) -> bool:
        """True when SASL or TLS is configured (only then can a refused connection be their fault)."""
        return self.security_protocol != "PLAINTEXT"


class CodecSettings(Section):
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


class HasKafka(Protocol):
    """Anything that carries the ``[kafka]`` section (the process settings, :class:`StreamsSettings`)."""

    @property
    def kafka(self) -> KafkaSettings: ...


class StreamsConfig(HasKafka, Protocol):
    """Anything that carries the ``[kafka]`` and ``[codec]`` sections: all ``streams/`` ever reads."""

    @property
    def codec(self) -> CodecSettings: ...


class StreamsSettings(Section):
    """The two sections on their own, for code that has no other settings."""

    kafka: KafkaSettings = KafkaSettings()
    codec: CodecSettings = CodecSettings()


KafkaSource = KafkaSettings | HasKafka


def kafka_of(source: KafkaSource) -> KafkaSettings:
    """The ``[kafka]`` section of ``source`` (which may be the section itself)."""
    return source if isinstance(source, KafkaSettings) else source.kafka
