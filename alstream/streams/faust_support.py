"""faust-streaming glue for agents built on faust: an app factory from the settings and a worker that
the agent runtime starts and stops.

Why here: every faust agent needs the same cluster/security settings, in-memory stores whose durability
comes from changelog topics (RocksDB is not installed; recovery replays the changelog), partitions that
match its source topics (faust tables crash with PartitionsMismatch otherwise), a producer that rides
out broker outages, and a worker that leaves signal handling to the runtime and returns instead of
calling ``sys.exit``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from pathlib import Path
from typing import Any

import faust

from alstream.streams.config import KafkaSettings, KafkaSource, kafka_of
from alstream.streams.kafka_config import faust_app_kwargs

log = logging.getLogger(__name__)


# faust hard-codes fetch_max_wait_ms=1500 for its worker consumer; the embedded broker holds every fetch
# for the whole wait, so each event waited up to 1.5 s (~0.4-1.4 s READY -> assignment in the router).
EMBEDDED_FETCH_MAX_WAIT_MS = 50
_end_probe: KafkaSettings | None = None  # whose cluster the end-offset probe reads (embedded broker only)


def _patch_aiokafka(kafka: KafkaSettings) -> None:
    """Adjust the aiokafka consumer faust builds (once per process; faust is its only user here).

    With the embedded broker only: a short fetch wait (see above), and end offsets found
      by reading (:func:`alstream.streams.reading.true_end_offsets`): faust's table recovery reads a
      changelog up to ``end_offsets`` (ListOffsets), which that broker under-reports, so a restarted
      router recovered only part of its pool.
    """
    global _end_probe
    _end_probe = kafka if kafka.embedded_broker else None
    import aiokafka

    consumer = aiokafka.AIOKafkaConsumer
    if getattr(consumer, "_alstream_patched", False):
        return

    class EmbeddedBrokerConsumer(consumer):  # type: ignore[misc, valid-type]
        _alstream_patched = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if _end_probe is not None:
                wait = int(kwargs.get("fetch_max_wait_ms", 500))
                kwargs["fetch_max_wait_ms"] = min(wait, EMBEDDED_FETCH_MAX_WAIT_MS)
            super().__init__(*args, **kwargs)

        async def end_offsets(self, partitions: Any) -> Any:
            listed = await super().end_offsets(partitions)
            probe = _end_probe
            if probe is None or not listed:
                return listed
            from alstream.streams.reading import true_end_offsets

            wanted = {(tp.topic, tp.partition): offset for tp, offset in listed.items()}
            found = await asyncio.get_running_loop().run_in_executor(None, true_end_offsets, probe, wanted)
            corrected = {tp: found.get((tp.topic, tp.partition), offset) for tp, offset in listed.items()}
            if corrected != listed:
                log.info(
                    "end offsets corrected past the broker's ListOffsets answer: %s",
                    {
                        f"{tp.topic}[{tp.partition}]": (listed[tp], corrected[tp])
                        for tp in listed
                        if corrected[tp] != listed[tp]
                    },
                )
            return corrected

    aiokafka.AIOKafkaConsumer = EmbeddedBrokerConsumer


def make_app(
    settings: KafkaSource, *, name: str, partitions: int, state_dir: Path | str, **overrides: Any
) -> faust.App:
    """A faust app for one agent: id carries the topic prefix (so deployments never share changelogs)."""
    kafka = kafka_of(settings)
    app_id = kafka.group_id(name)  # faust's app id is its consumer group and its internal topics' prefix
    datadir = Path(state_dir) / "faust" / app_id
    datadir.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {
        **faust_app_kwargs(kafka),
        "store": "memory://",
        "topic_partitions": partitions,
        "datadir": str(datadir),
        "web_enabled": False,
        "autodiscover": False,
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        # aiokafka fails a send whose batch waited longer than this (and waits this long for a full
        # batch to drain), and faust then crashes the agent and, at its next commit, the worker: a
        # broker paused for longer than a short timeout killed a router that was assigning when it
        # paused. Sends now wait out an outage as long as every other client does.
        "producer_request_timeout": kafka.outage_tolerance_s,
        "table_cleanup_interval": 3600.0,
    }
    kwargs.update(overrides)
    _patch_aiokafka(kafka)
    return faust.App(app_id, **kwargs)


class _RuntimeWorker(faust.Worker):
    """faust's worker, stopped by the agent runtime's stop flag rather than by its own signal handlers.

    SIGTERM / SIGINT still stop it promptly: the handlers set the flag and schedule the shutdown.
    """

    def __init__(self, app: faust.App, *, stop: threading.Event, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._stop_requested = stop

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, self._on_stop_signal, sig)
        self.add_future(self._watch_stop_flag())

    def _on_stop_signal(self, sig: signal.Signals) -> None:
        self._stop_requested.set()
        self._schedule_shutdown(sig)

    async def _watch_stop_flag(self) -> None:
        while not self._stop_requested.is_set():
            await asyncio.sleep(0.2)
        self._schedule_shutdown(signal.SIGTERM)


def run_worker(app: faust.App, *, stop: threading.Event, loglevel: str = "INFO") -> None:
    """Run the app until ``stop`` is set (SIGTERM / SIGINT set it) and return cleanly."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    worker = _RuntimeWorker(app, stop=stop, loglevel=loglevel, loop=loop, override_logging=False, quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
