"""The one agent runtime: :func:`run_agent` owns what every agent process needs, in one order.

1. signal handlers, first (a SIGTERM during a slow start still means a clean stop);
2. the /metrics endpoint;
3. waiting for the Kafka cluster (an agent started during an outage waits, and says what it waits for);
4. the agent's ``setup(runtime)``: its state, its side readers (caught up), and its main loop (a
   consumer-group batch loop, a faust worker) or only idle callbacks (the release agent's tick);
5. the loop, until the stop flag is set: side readers and due idle callbacks run between batches;
6. shutdown in reverse order: the loop, side readers, the runtime's producer flushed.

Agents are processors plugged into it, in the shape of quix-streams' ``Application``: declare what to
read and what to call, then ``run``. The poison-pill rule holds everywhere a record is read: the batch
loop (:mod:`alstream.streams.batch_loop`) isolates and dead-letters the records that fail, and a side
reader dead-letters a record its handler fails on after ``max_attempts`` and moves on. A failure of the
environment (the broker, :class:`~alstream.streams.exceptions.RetryLater`) is waited out instead, and
never blamed on a record.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException, Message, Producer

from alstream.observability.metrics import (
    AGENT_ERRORS,
    AGENT_LAST_PROGRESS,
    AGENT_UP,
    RECORD_RETRIES,
    serve_metrics,
)
from alstream.streams.availability import backoff_delays, health_for, is_transient, wait_for_cluster
from alstream.streams.batch_loop import BatchAgentRunner, BatchProcessor
from alstream.streams.config import StreamsConfig
from alstream.streams.dead_letters import DeadLetterSink, dead_lettered
from alstream.streams.exceptions import BrokerError, ClusterUnreachable, Interrupted
from alstream.streams.kafka_config import producer_config
from alstream.streams.messages import coordinates
from alstream.streams.reading import TopicTail
from alstream.streams.stopping import StopFlag

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
IDLE_STEP_S = 0.2
# How often an agent asks the cluster for metadata between batches. An idle client hears nothing from a
# paused broker (its connections stay open), so without asking, an outage would not show in
# alstream_agent_broker_up until work arrived.
PROBE_EVERY_S = 15.0
PROBE_TIMEOUT_S = 5.0


class SideReader:
    """A topic an agent follows outside its consumer group, record by record, under the poison-pill rule.

    ``handle(message)`` is called once per record in offset order; a record it keeps failing on is
    dead-lettered and the reader moves on. A restart reads the topic again and tries such a record
    again, but does not dead-letter it a second time (:meth:`AgentRuntime.reject`).
    """

    def __init__(
        self, *, runtime: AgentRuntime, tail: TopicTail, handle: Callable[[Message], object], what: str
    ) -> None:
        self.runtime = runtime
        self.tail = tail
        self.handle = handle
        self.what = what
        self.rejected = 0  # records dead-lettered by this process

    def catch_up(self, *, patience_s: float | None = None) -> int:
        """Read to the end the topics have now; returns the number of records read. With
        ``patience_s``, :class:`~alstream.streams.exceptions.BrokerError` when nothing progressed
        for that long (else it waits as long as it takes)."""
        return self.tail.catch_up(self._apply, patience_s=patience_s)

    def poll(self, *, timeout_s: float = 0.0) -> int:
        """Apply what arrived since the last call; returns the number of records."""
        messages = self.tail.poll(timeout_s=timeout_s)
        self._apply(messages)
        return len(messages)

    def caught_up(self) -> bool:
        return self.tail.caught_up()

    def _apply(self, messages: list[Message]) -> None:
        for message in messages:
            if not self.runtime.guarded(message, self.handle, what=self.what):
                self.rejected += 1

    def close(self) -> None:
        self.tail.close()


@dataclass
class _Idle:
    interval_s: float
    callback: Callable[[], object]
    what: str
    due: float = 0.0
    delays: Callable[[], float] = field(default_factory=backoff_delays)


class AgentRuntime:
    """What one agent process owns; built by :func:`run_agent`, handed to the agent's ``setup``."""

    def __init__(
        self,
        *,
        agent: str,
        config: StreamsConfig,
        stop: StopFlag,
        max_attempts: int = MAX_ATTEMPTS,
        producer: Any | None = None,
        earlier_dead_letters: dict[str, set[tuple[int, int]]] | None = None,
    ) -> None:
        """``producer`` replaces the runtime's own (an in-memory one in unit tests), and
        ``earlier_dead_letters`` (source topic -> (partition, offset)) what it would read from the
        dead-letter topic (given, it reads nothing)."""
        self.agent = agent
        self.config = config
        self.stop = stop
        self.max_attempts = max_attempts
        self.health = health_for(agent, config)
        self.side_readers: list[SideReader] = []
        self._idle: list[_Idle] = []
        self._closers: list[Callable[[], object]] = []
        self._main: Callable[[], None] | None = None
        self._producer: Producer | None = producer
        self._dead_letters: DeadLetterSink | None = None
        self._earlier_dead_letters: dict[str, set[tuple[int, int]]] = dict(earlier_dead_letters or {})
        self._look_up_dead_letters = earlier_dead_letters is None
        self.runner: BatchAgentRunner | None = None
        self._next_probe = time.monotonic() + PROBE_EVERY_S

    # -- what an agent declares in setup ----------------------------------------------------------

    def stopping(self) -> bool:
        """Whether the stop flag is set: pass it as ``stop=`` to waits of the setup (replays, reads)."""
        return bool(self.stop)

    @property
    def producer(self) -> Producer:
        """A producer owned by the runtime (flushed at shutdown), for outputs outside the batch loop."""
        if self._producer is None:
            self._producer = Producer(producer_config(self.config))
        return self._producer

    @property
    def dead_letters(self) -> DeadLetterSink:
        """The runtime's dead-letter sink (on its own producer)."""
        if self._dead_letters is None:
            kafka = self.config.kafka
            self._dead_letters = DeadLetterSink(
                producer=self.producer,
                topic=kafka.topic("dead-letters"),
                agent=self.agent,
                max_bytes=kafka.max_message_bytes,
            )
        return self._dead_letters

    def remember_dead_letters(self, topics: Sequence[str]) -> None:
        """Read which records of ``topics`` this agent dead-lettered in earlier runs, for the topics not
        read yet, in one pass over the dead-letter topic's headers. Only the topics asked for are kept:
        an agent's dead letters of its main topics can number millions after a flood of bad input."""
        missing = [topic for topic in topics if topic not in self._earlier_dead_letters]
        if not missing:
            return
        found: dict[str, set[tuple[int, int]]] = {}
        if self._look_up_dead_letters:
            try:
                found = dead_lettered(
                    self.config,
                    agent=self.agent,
                    source_topics=missing,
                    patience_s=self.config.kafka.outage_tolerance_s,
                    stop=self.stopping,
                )
            except (BrokerError, ClusterUnreachable, KafkaException) as exc:
                # Never fatal: a cluster that refuses the read (no Read grant on dead-letters after an
                # upgrade) would otherwise stop the agent at every start.
                log.warning(
                    "%s: the dead-letter topic could not be read (%s); a record of %s that fails again"
                    " after this restart is dead-lettered again",
                    self.agent,
                    exc,
                    ", ".join(missing),
                )
        for topic in missing:
            self._earlier_dead_letters[topic] = found.get(topic, set())

    def dead_lettered_before(self, topic: str) -> set[tuple[int, int]]:
        """(partition, offset) of the ``topic`` records this agent has dead-lettered, in earlier runs
        and in this one."""
        self.remember_dead_letters([topic])
        return self._earlier_dead_letters[topic]

    def reject(self, message: Message, error: BaseException, *, what: str) -> None:
        """Dead-letter a record read outside the batch loop, count it and say so. A record of a followed
        topic is dead-lettered once: a side reader reads its topics again after a restart, and a
        record this agent dead-lettered before is only logged, so tools reading the dead-letter topic
        see it once. (Other topics' records are not remembered: a flood of bad input would grow the
        set without bound.)"""
        topic, partition, offset = coordinates(message)
        done = self._earlier_dead_letters.get(topic)
        again = done is not None and (partition, offset) in done
        log.log(
            logging.WARNING if again else logging.ERROR,
            "%s: %s %s %s[%s]@%s: %s: %s",
            self.agent,
            "failed again on (dead-lettered already)" if again else "dead-lettering",
            what,
            topic,
            partition,
            offset,
            type(error).__name__,
            error,
        )
        if again:
            return
        self.dead_letters.send_message(message, error, f"{type(error).__name__}: {error}")
        self.producer.poll(0)
        if done is not None:
            done.add((partition, offset))

    def guarded(self, message: Message, handle: Callable[[Message], object], *, what: str) -> bool:
        """``handle(message)`` under the poison-pill rule: up to ``max_attempts`` attempts (with backoff
        when the failure is transient), then the record is dead-lettered. Returns whether it was handled."""
        delays = backoff_delays(first_s=0.2, cap_s=2.0)
        for attempt in range(1, self.max_attempts + 1):
            try:
                handle(message)
                return True
            except Exception as exc:  # noqa: BLE001 - the poison-pill rule: any exception type
                RECORD_RETRIES.labels(self.agent, type(exc).__name__).inc()
                if attempt == self.max_attempts:
                    self.reject(message, exc, what=what)
                    return False
                if is_transient(exc):
                    self.stop.wait(delays())
        return False  # pragma: no cover - the loop returns

    def follow(
        self,
        topics: Sequence[str],
        handle: Callable[[Message], object],
        *,
        what: str,
        catch_up: bool = True,
    ) -> SideReader:
        """Follow whole ``topics`` from their beginning; ``handle`` gets each record. With ``catch_up``
        the reader first reads to the end the topics have now (before the loop starts)."""
        self.remember_dead_letters(topics)  # what earlier runs dead-lettered, before the reader retries it
        reader = SideReader(
            runtime=self,
            tail=TopicTail(settings=self.config, topics=list(topics), agent=self.agent, stop=self.stopping),
            handle=handle,
            what=what,
        )
        self.side_readers.append(reader)
        self._closers.append(reader.close)
        if catch_up:
            count = reader.catch_up()
            log.info("%s: read %d %s to the end", self.agent, count, what)
        return reader

    def every(self, interval_s: float, callback: Callable[[], object], *, what: str) -> None:
        """Call ``callback`` every ``interval_s`` between batches (or on its own when there is no main
        loop). A failure is logged and counted, and retried at the next interval (with backoff when
        the broker is the cause); it never stops the agent."""
        self._idle.append(_Idle(interval_s=interval_s, callback=callback, what=what))

    def on_shutdown(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` at shutdown (before the runtime's own clean-up, in reverse order)."""
        self._closers.append(callback)

    def consume(
        self,
        *,
        topics: list[str],
        group_id: str,
        processor: BatchProcessor,
        batch_size: int,
        poll_timeout_s: float = 0.5,
        **options: Any,
    ) -> BatchAgentRunner:
        """Make a consumer-group batch loop over ``topics`` the main loop (see :class:`BatchAgentRunner`)."""
        self.runner = BatchAgentRunner(
            agent=self.agent,
            settings=self.config,
            topics=topics,
            group_id=group_id,
            processor=processor,
            batch_size=batch_size,
            poll_timeout_s=poll_timeout_s,
            max_attempts=self.max_attempts,
            between_batches=self.between_batches,
            **options,
        )
        runner = self.runner
        self._main = lambda: runner.run(self.stop)
        return runner

    def run_faust(self, app: Any) -> None:
        """Make a faust worker the main loop; side readers and idle callbacks run in a thread meanwhile."""
        from alstream.streams.faust_support import run_worker

        def main() -> None:
            helper = threading.Thread(target=self._background, name=f"{self.agent}-side-readers", daemon=True)
            helper.start()
            AGENT_UP.labels(self.agent).set(1)
            try:
                run_worker(app, stop=self.stop.event)
            finally:
                AGENT_UP.labels(self.agent).set(0)
                self.stop.set()
                helper.join(timeout=10)

        self._main = main

    # -- running ----------------------------------------------------------------------------------

    def between_batches(self) -> None:
        """Apply what side readers have, and run the idle callbacks that are due."""
        for reader in self.side_readers:
            try:
                reader.poll()
            except Exception as exc:  # noqa: BLE001 - a reader's trouble must not stop the loop
                AGENT_ERRORS.labels(self.agent, type(exc).__name__).inc()
                log.warning("%s: reading %s failed: %s", self.agent, reader.what, exc)
        now = time.monotonic()
        for idle in self._idle:
            if now < idle.due:
                continue
            try:
                idle.callback()
                idle.due = time.monotonic() + idle.interval_s
                idle.delays = backoff_delays()
                AGENT_LAST_PROGRESS.labels(self.agent).set(time.time())
            except Exception as exc:  # noqa: BLE001 - an idle callback's failure never stops the agent
                AGENT_ERRORS.labels(self.agent, type(exc).__name__).inc()
                retry_in = max(idle.interval_s, idle.delays()) if is_transient(exc) else idle.interval_s
                idle.due = time.monotonic() + retry_in
                log.error(
                    "%s: %s failed, retrying in %.0fs: %s: %s",
                    self.agent,
                    idle.what,
                    retry_in,
                    type(exc).__name__,
                    exc,
                )
        if self._producer is not None:
            self._producer.poll(0)
        if now >= self._next_probe:
            self._next_probe = now + PROBE_EVERY_S
            self.probe()

    def probe(self) -> bool:
        """One metadata request: ``alstream_agent_broker_up`` and the log follow what it finds."""
        topic = self.config.kafka.topic("dead-letters")
        try:
            self.producer.list_topics(topic, timeout=PROBE_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - any failure of the probe means "no answer"
            self.health.failed("probe", exc)
            return False
        if self.health.down_since is not None:
            self.health.ok()
        return True

    def _background(self) -> None:
        while not self.stop:
            self.between_batches()
            self.stop.wait(IDLE_STEP_S)

    def run(self) -> None:
        """The main loop until the stop flag is set; the idle callbacks alone when there is none."""
        if self._main is not None:
            self._main()
            return
        AGENT_UP.labels(self.agent).set(1)
        try:
            while not self.stop:
                self.between_batches()
                AGENT_LAST_PROGRESS.labels(self.agent).set(time.time())
                self.stop.wait(IDLE_STEP_S)
        finally:
            AGENT_UP.labels(self.agent).set(0)

    def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception as exc:  # noqa: BLE001 - shut everything down even if one part fails
                log.warning("%s: shutdown step failed: %s", self.agent, exc)
        if self._producer is not None:
            left = self._producer.flush(30)
            if left:
                log.warning("%s: %d records unacknowledged at shutdown", self.agent, left)


def run_agent(
    *,
    agent: str,
    config: StreamsConfig,
    setup: Callable[[AgentRuntime], None],
    metrics_port: int = 0,
    metrics_host: str = "127.0.0.1",
    stop: StopFlag | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> None:
    """Run one agent until SIGTERM / SIGINT (or ``stop`` is set) and return cleanly.

    ``setup(runtime)`` builds the agent: its side readers (:meth:`AgentRuntime.follow`), idle
    callbacks (:meth:`AgentRuntime.every`) and main loop (:meth:`AgentRuntime.consume` or
    :meth:`AgentRuntime.run_faust`). A ``stop`` given by the caller (tests, threads) is used instead of
    signal handlers.
    """
    if stop is None:
        stop = StopFlag()
        stop.install_signal_handlers()
    serve_metrics(metrics_port, metrics_host, agent=agent)
    AGENT_UP.labels(agent).set(0)
    runtime = AgentRuntime(agent=agent, config=config, stop=stop, max_attempts=max_attempts)
    try:
        wait_for_cluster(config, agent=agent, patience_s=None, stop=runtime.stopping)
        log.info("%s: the Kafka cluster answered; starting", agent)
        setup(runtime)
        if not stop:
            runtime.run()
    except Interrupted:  # SIGTERM while it waited for the cluster or read its topics: a clean stop
        log.info("%s: stopped before it started", agent)
    finally:
        runtime.close()
        with contextlib.suppress(Exception):
            AGENT_UP.labels(agent).set(0)
        log.info("%s stopped", agent)
