"""Decoding records into an index that is rebuilt from a topic (assignments, candidates)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from alstream.observability.metrics import AGENT_ERRORS
from alstream.streams.codecs import RecordCodec
from alstream.streams.exceptions import DecodeError

log = logging.getLogger(__name__)


def decode_into(
    messages: Iterable[Any],
    *,
    codec: RecordCodec,
    add: Callable[[dict[str, Any]], None],
    agent: str,
    what: str,
    reject: Callable[[Any, BaseException], None] | None = None,
) -> int:
    """Decode each record and hand it to ``add``; returns how many were added.

    An undecodable record is its producer's to fix, never fatal to the index being rebuilt: it goes to
    ``reject`` (the agent runtime dead-letters it) when given, and is always logged and counted in
    ``alstream_agent_errors_total``.
    """
    added = 0
    for message in messages:
        try:
            record = codec.decode(message.value())
        except DecodeError as exc:
            AGENT_ERRORS.labels(agent, type(exc).__name__).inc()
            log.warning(
                "%s: undecodable %s at %s/%s: %s", agent, what, message.partition(), message.offset(), exc
            )
            if reject is not None:
                reject(message, exc)
            continue
        add(record)
        added += 1
    return added
