"""Whether the Kafka cluster answers: waiting for it, retrying through outages, and saying so.

Every agent and command waits out a broker outage instead of exiting: a paused broker, a restart, a
network partition. While it waits, ``alstream_agent_broker_up`` is 0, each failed attempt counts in
``alstream_agent_broker_retries_total``, and a log line (at most one per ``LOG_EVERY_S``) says what it
waits for and which setting to check if the wait never ends. What cannot heal by waiting (a refused
login, an untrusted certificate, a listener that wants SASL or TLS) fails at once with a message
naming the setting to fix; SASL and TLS are only ever blamed when the evidence points at them.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from alstream.observability.metrics import BROKER_RETRIES, BROKER_UP
from alstream.streams.config import KafkaSettings, KafkaSource, kafka_of
from alstream.streams.exceptions import (
    AuthenticationFailed,
    ClusterAccessError,
    ClusterUnreachable,
    Interrupted,
    RetryLater,
    SecurityProtocolMismatch,
    TransportSecurityFailed,
)
from alstream.streams.kafka_config import admin_config

log = logging.getLogger(__name__)
T = TypeVar("T")

LOG_EVERY_S = 30.0
BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 15.0
BOOTSTRAP_SETTING = "KAFKA_BOOTSTRAP_SERVERS (or ALSTREAM_KAFKA__BOOTSTRAP_SERVERS)"

# Errors that waiting cannot fix: the request was understood and refused.
_PERMANENT_CODES = frozenset(
    {
        KafkaError._AUTHENTICATION,
        KafkaError._SSL,
        KafkaError._INVALID_ARG,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError.INVALID_RECORD,
    }
)


class _Collected(logging.Handler):
    """librdkafka's log lines of one attempt: the evidence of what the connections went through
    (refused, resolved, accepted and closed), which its error callback does not always carry."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _probe_logger() -> tuple[logging.Logger, _Collected]:
    """A logger outside the logging tree (nothing propagates, nothing is printed) that keeps the lines."""
    collected = _Collected()
    logger = logging.Logger("alstream.cluster-probe")
    logger.addHandler(collected)
    return logger, collected


def is_transient_error(error: KafkaError) -> bool:
    """True for failures that waiting can heal: transport errors, timeouts, moving coordinators."""
    return not error.fatal() and error.code() not in _PERMANENT_CODES


def is_transient(exc: BaseException) -> bool:
    """True for exceptions that say "try again later" rather than "this request is wrong"."""
    if isinstance(exc, RetryLater):
        return True
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return is_transient_error(exc.args[0])
    return False


def backoff_delays(first_s: float = BACKOFF_FIRST_S, cap_s: float = BACKOFF_MAX_S) -> Callable[[], float]:
    """A generator of growing, slightly jittered delays (so replicas do not retry in lockstep)."""
    state = {"next": first_s}

    def following() -> float:
        delay = state["next"]
        state["next"] = min(cap_s, delay * 2)
        return delay * random.uniform(0.8, 1.2)

    return following


class BrokerHealth:
    """One process role's view of the cluster (agents share it between their loop and side readers)."""

    def __init__(self, *, agent: str, kafka: KafkaSettings) -> None:
        self.agent = agent
        self.kafka = kafka
        self.down_since: float | None = None
        self._last_log = 0.0
        self._lock = threading.Lock()
        BROKER_UP.labels(agent).set(1)

    @property
    def where(self) -> str:
        return self.kafka.bootstrap_servers or "(no bootstrap servers)"

    def ok(self) -> None:
        with self._lock:
            since, self.down_since = self.down_since, None
        BROKER_UP.labels(self.agent).set(1)
        if since is not None:
            log.warning(
                "%s: the Kafka cluster at %s answered again after %.0fs",
                self.agent,
                self.where,
                time.monotonic() - since,
            )

    def failed(self, operation: str, problem: object) -> None:
        """Note a transient failure of ``operation`` (counted; logged at most every ``LOG_EVERY_S``)."""
        now = time.monotonic()
        with self._lock:
            if self.down_since is None:
                self.down_since = now
            waited = now - self.down_since
            due = now - self._last_log >= LOG_EVERY_S or waited == 0.0
            if due:
                self._last_log = now
        BROKER_UP.labels(self.agent).set(0)
        BROKER_RETRIES.labels(self.agent, operation).inc()
        if due:
            log.warning(
                "%s: waiting for the Kafka cluster at %s (%s, %.0fs so far): %s. "
                "Check %s if it never answers.",
                self.agent,
                self.where,
                operation,
                waited,
                problem,
                BOOTSTRAP_SETTING,
            )

    def call(
        self,
        operation: str,
        fn: Callable[[], T],
        *,
        patience_s: float | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> T:
        """``fn()``, retried with backoff while it fails transiently.

        ``patience_s`` None waits as long as it takes (agents); otherwise :class:`ClusterUnreachable`
        after that long. ``stop()`` true ends the wait early with :class:`Interrupted`.
        """
        deadline = None if patience_s is None else time.monotonic() + patience_s
        delay = backoff_delays()
        while True:
            try:
                result = fn()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                self.failed(operation, exc)
                if stop is not None and stop():
                    raise Interrupted(f"stopped while waiting for the Kafka cluster ({operation})") from exc
                if deadline is not None and time.monotonic() >= deadline:
                    raise ClusterUnreachable(
                        f"{operation}: the Kafka cluster at {self.where} did not answer"
                        f"{'' if patience_s is None else f' within {patience_s:g}s'} ({exc}). "
                        f"Check {BOOTSTRAP_SETTING}."
                    ) from exc
                pause = delay()
                if deadline is not None:
                    pause = max(0.0, min(pause, deadline - time.monotonic()))
                _sleep(pause, stop)
                continue
            if self.down_since is not None:
                self.ok()
            return result


_HEALTH: dict[tuple[str, str | None], BrokerHealth] = {}
_HEALTH_LOCK = threading.Lock()


def health_for(agent: str, source: KafkaSource) -> BrokerHealth:
    """The one :class:`BrokerHealth` of ``agent`` for this cluster in this process."""
    kafka = kafka_of(source)
    with _HEALTH_LOCK:
        key = (agent, kafka.bootstrap_servers)
        health = _HEALTH.get(key)
        if health is None:
            health = _HEALTH[key] = BrokerHealth(agent=agent, kafka=kafka)
        return health


def _sleep(seconds: float, stop: Callable[[], bool] | None) -> None:
    end = time.monotonic() + seconds
    while (remaining := end - time.monotonic()) > 0:
        if stop is not None and stop():
            return
        time.sleep(min(0.2, remaining))


def wait_for_cluster(
    source: KafkaSource,
    *,
    agent: str = "alstream",
    patience_s: float | None = None,
    stop: Callable[[], bool] | None = None,
    attempt_timeout_s: float = 5.0,
) -> int:
    """Wait until the cluster answers a metadata request; returns its number of brokers.

    Raises :class:`ClusterAccessError` at once for what waiting cannot fix (a refused login, TLS
    trouble, a listener that wants SASL or TLS), and :class:`ClusterUnreachable` once ``patience_s``
    passed without an answer (None: wait as long as it takes). ``stop()`` true ends the wait with
    :class:`Interrupted`.
    """
    kafka = kafka_of(source)
    health = health_for(agent, kafka)
    deadline = None if patience_s is None else time.monotonic() + patience_s
    delay = backoff_delays()
    while True:
        errors: list[KafkaError] = []
        logger, lines = _probe_logger()
        admin = AdminClient(admin_config(kafka) | {"error_cb": errors.append, "logger": logger})
        try:
            timeout = attempt_timeout_s
            if deadline is not None:
                timeout = max(0.5, min(timeout, deadline - time.monotonic()))
            metadata = admin.list_topics(timeout=timeout)
            if health.down_since is not None:
                health.ok()
            else:
                BROKER_UP.labels(agent).set(1)
            return len(metadata.brokers)
        except KafkaException as exc:
            admin.poll(0.5)
            problem = classify(kafka, errors, exc, log_lines=lines.lines)
        if not isinstance(problem, ClusterUnreachable) or isinstance(problem, SecurityProtocolMismatch):
            raise problem
        health.failed("connect", problem)
        if stop is not None and stop():
            raise Interrupted("stopped while waiting for the Kafka cluster") from problem
        if deadline is not None and time.monotonic() >= deadline:
            raise problem
        pause = delay()
        if deadline is not None:
            pause = max(0.0, min(pause, deadline - time.monotonic()))
        _sleep(pause, stop)


def classify(
    kafka: KafkaSettings,
    errors: list[KafkaError],
    exc: KafkaException,
    *,
    log_lines: list[str] | None = None,
) -> ClusterAccessError:
    """What a failed metadata request means, as an error that names the setting to check.

    Only a plain :class:`ClusterUnreachable` may heal by waiting; its subclasses and the other
    :class:`ClusterAccessError` kinds are configuration mistakes.
    """
    servers = kafka.bootstrap_servers
    texts = [e.str() for e in errors] + [str(exc)] + list(log_lines or [])
    detail = next((e.str() for e in errors if e.code() == KafkaError._AUTHENTICATION), None)
    if detail is not None:
        who = (
            f"user {kafka.sasl_username!r} with {kafka.sasl_mechanism}"
            if kafka.sasl_username
            else "this client"
        )
        return AuthenticationFailed(
            f"{servers} refused the login of {who}: {_short(detail)}. Check ALSTREAM_KAFKA__SASL_USERNAME, "
            "ALSTREAM_KAFKA__SASL_PASSWORD and ALSTREAM_KAFKA__SASL_MECHANISM "
            "(the user must exist for that mechanism)."
        )
    detail = next((e.str() for e in errors if e.code() == KafkaError._SSL), None)
    if detail is not None:
        return TransportSecurityFailed(
            f"TLS with {servers} failed: {_short(detail)}. "
            "Check ALSTREAM_KAFKA__SSL_CAFILE (the CA that signed the brokers' certificates), "
            "ALSTREAM_KAFKA__SSL_CHECK_HOSTNAME and that the port speaks TLS."
        )
    if any("security.protocol" in text for text in texts):
        # librdkafka's own diagnosis: the broker dropped the connection before answering ApiVersion,
        # what a SASL or TLS listener does to a client that speaks neither.
        return SecurityProtocolMismatch(
            f"{servers} closed every connection before answering: the listener may require SASL or TLS "
            "(set ALSTREAM_KAFKA__SECURITY_PROTOCOL and the matching ALSTREAM_KAFKA__SASL_* / "
            "ALSTREAM_KAFKA__SSL_* settings)."
            if not kafka.uses_security
            else f"{servers} closed every connection before answering: check that "
            f"ALSTREAM_KAFKA__SECURITY_PROTOCOL={kafka.security_protocol} is what the listener speaks."
        )
    if any("Failed to resolve" in text for text in texts):
        return ClusterUnreachable(f"cannot resolve the host of {servers}: check {BOOTSTRAP_SETTING}")
    if any("Connection refused" in text for text in texts):
        return ClusterUnreachable(
            f"nothing accepts connections at {servers} (connection refused): the cluster is down, or "
            f"{BOOTSTRAP_SETTING} names the wrong host or port"
        )
    if any("closed by peer" in text or "reset by peer" in text for text in texts):
        # Accepted, then dropped before any answer: a SASL or TLS listener does this to a client that
        # speaks neither, and so does a broker that is shutting down: keep waiting, and say both.
        hint = (
            "if the listener requires SASL or TLS, set ALSTREAM_KAFKA__SECURITY_PROTOCOL (and the "
            "ALSTREAM_KAFKA__SASL_* / ALSTREAM_KAFKA__SSL_* settings)"
            if not kafka.uses_security
            else f"check that ALSTREAM_KAFKA__SECURITY_PROTOCOL={kafka.security_protocol} is what it speaks"
        )
        return ClusterUnreachable(
            f"{servers} accepts connections but closes them before answering: {hint}; a broker that is "
            "shutting down does this too"
        )
    return ClusterUnreachable(
        f"no answer from {servers} ({_short(str(exc))}): the cluster may be paused, overloaded or "
        f"unreachable from here; check {BOOTSTRAP_SETTING} if it never answers"
    )


def _short(text: str) -> str:
    """librdkafka prefixes errors with the broker's internal name; keep the part a person needs."""
    for marker in ("SASL authentication error: ", "SSL handshake failed: "):
        if marker in text:
            return text.split(marker, 1)[1]
    return text
