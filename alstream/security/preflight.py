"""Fail fast and clearly when the cluster refuses us; wait when it is only unreachable.

Why: librdkafka retries a refused login forever in the background; a client only sees "Broker
transport failure" after its own timeout (the CLI took ~43 s and printed ~560 log lines for a wrong
password). :func:`require_access` makes a metadata request with the error callback attached and turns
the outcome into one :class:`~alstream.exceptions.AlstreamError` that names the setting to fix. A
cluster that does not answer (down, paused, a wrong address) is waited for, with a log line saying
what is awaited, for up to ``kafka.outage_tolerance_s``: commands ride out outages as agents do.
The classification lives with the Kafka plumbing (:mod:`alstream.streams.availability`), which the
agent runtime uses too.
"""

from __future__ import annotations

from alstream.streams.availability import wait_for_cluster
from alstream.streams.config import HasKafka
from alstream.streams.exceptions import (
    AuthenticationFailed,
    ClusterAccessError,
    ClusterUnreachable,
    SecurityProtocolMismatch,
    TransportSecurityFailed,
)

__all__ = [
    "AuthenticationFailed",
    "ClusterAccessError",
    "ClusterUnreachable",
    "SecurityProtocolMismatch",
    "TransportSecurityFailed",
    "require_access",
]


def require_access(settings: HasKafka, *, timeout_s: float | None = None, agent: str = "cli") -> int:
    """Return the number of brokers, or raise a :class:`ClusterAccessError`.

    Security mistakes raise at once; an unreachable cluster raises after ``timeout_s`` (default:
    ``kafka.outage_tolerance_s``) of waiting."""
    patience = settings.kafka.outage_tolerance_s if timeout_s is None else timeout_s
    return wait_for_cluster(settings, agent=agent, patience_s=patience, attempt_timeout_s=min(5.0, patience))
