"""faust-streaming glue shared by the stateful agents: an app factory from the settings, partition counts.

Why here: every faust agent needs the same cluster/security settings, in-memory stores whose durability
comes from changelog topics (RocksDB is not installed; recovery replays the changelog), partitions that
match its source topics (faust tables crash with PartitionsMismatch otherwise), and a way to run until
SIGTERM and return instead of calling ``sys.exit``.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import faust

from alstream.settings import AlstreamSettings
from alstream.streams.exceptions import BrokerError
from alstream.streams.kafka_config import faust_app_kwargs
from alstream.streams.topics import list_topics

log = logging.getLogger(__name__)


def partition_counts(
    settings: AlstreamSettings, base_names: list[str], *, timeout_s: float = 15.0
) -> dict[str, int]:
    """Partition count of each catalogue topic (they must exist: create them with ``alstream topics``)."""
    existing = dict(list_topics(settings, timeout_s=timeout_s))
    counts = {}
    for base in base_names:
        partitions = existing.get(settings.kafka.topic(base))
        if not partitions:
            raise BrokerError(
                f"topic {settings.kafka.topic(base)} does not exist: run `alstream topics create` first "
                "(auto-created topics break faust tables)"
            )
        counts[base] = partitions
    return counts


FETCH_MAX_WAIT_MS = 50
_end_probe_settings: AlstreamSettings | None = None  # whose cluster the end-offset probe reads


def _patch_aiokafka_consumer(settings: AlstreamSettings) -> None:
    """Two fixes to the aiokafka consumer faust builds (once per process; faust is its only user here).

    - faust hard-codes ``fetch_max_wait_ms=1500`` for its worker consumer; on brokers that hold a fetch
      for the whole wait (Tansu, see BROKER-NOTES) every event then waits up to 1.5 s, which measured as
      ~0.4-1.4 s READY -> assignment latency in the router. Cap it.
    - faust's table recovery reads a changelog up to ``end_offsets`` (ListOffsets), which Tansu
      under-reports (see :mod:`alstream.streams.end_offsets`): recovery stopped early and a restarted
      router lost most of its pool. Take the end a reader actually finds instead.
    """
    global _end_probe_settings
    _end_probe_settings = settings
    import aiokafka

    original = aiokafka.AIOKafkaConsumer
    if getattr(original, "_alstream_patched", False):
        return

    class PatchedConsumer(original):  # type: ignore[misc, valid-type]
        _alstream_patched = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["fetch_max_wait_ms"] = min(int(kwargs.get("fetch_max_wait_ms", 500)), FETCH_MAX_WAIT_MS)
            super().__init__(*args, **kwargs)

        async def end_offsets(self, partitions: Any) -> Any:
            listed = await super().end_offsets(partitions)
            probe_settings = _end_probe_settings
            if probe_settings is None or not listed:
                return listed
            from alstream.streams.end_offsets import read_end_offsets

            wanted = {(tp.topic, tp.partition): offset for tp, offset in listed.items()}
            found = await asyncio.get_running_loop().run_in_executor(
                None, read_end_offsets, probe_settings, wanted
            )
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

    aiokafka.AIOKafkaConsumer = PatchedConsumer


def make_app(settings: AlstreamSettings, *, name: str, partitions: int, **overrides: Any) -> faust.App:
    """A faust app for one agent: id carries the topic prefix (so deployments never share changelogs)."""
    datadir = Path(settings.paths.state_dir) / "faust" / f"{settings.kafka.topic_prefix}{name}"
    datadir.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {
        **faust_app_kwargs(settings),
        "store": "memory://",
        "topic_partitions": partitions,
        "datadir": str(datadir),
        "web_enabled": False,
        "autodiscover": False,
        "consumer_auto_offset_reset": "earliest",
        "producer_acks": -1,
        # faust's default is 20 minutes: one produce request left unanswered would stall every table write
        # and send of the app for that long. Fail fast and let aiokafka retry instead.
        "producer_request_timeout": 15.0,
        "table_cleanup_interval": 3600.0,
    }
    kwargs.update(overrides)
    _patch_aiokafka_consumer(settings)
    return faust.App(f"{settings.kafka.topic_prefix}{name}", **kwargs)


def run_worker(app: faust.App, *, loglevel: str = "INFO") -> None:
    """Run the app until SIGTERM / SIGINT (faust's worker installs the handlers) and return cleanly."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    worker = faust.Worker(app, loglevel=loglevel, loop=loop, override_logging=False, quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise
