"""``alstream agent label-studio``: the bridge between alstream and a Label Studio server.

Needs the optional extra ``alstream[label-studio]`` and ``[label_studio] url, api_token, annotators``.
A stop (SIGTERM) sends no OFFLINE: a restarted bridge finds its queues as they were.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

from alstream.agents.label_studio.api import connect
from alstream.agents.label_studio.bridge import AGENT, SOURCE, Bridge
from alstream.agents.label_studio.exceptions import LabelStudioError
from alstream.agents.label_studio.outputs import KafkaDeadLetters
from alstream.agents.label_studio.state import BridgeState
from alstream.agents.label_studio.webhook import serve_hints
from alstream.annotation.client import AnnotationClient
from alstream.annotation.exceptions import AnnotationError
from alstream.observability.metrics import AGENT_ERRORS, AGENT_LAST_PROGRESS, AGENT_UP, serve_metrics
from alstream.settings import AlstreamSettings
from alstream.streams.batch_loop import StopFlag

log = logging.getLogger(__name__)
INTAKE_INTERVAL_S = 0.5  # new assignments are imported this often, between the polls of Label Studio


def run(settings: AlstreamSettings, *, stop: StopFlag | None = None) -> None:
    """Block until SIGTERM / SIGINT (or ``stop`` is set)."""
    config = settings.label_studio
    url, token = config.require_connection()
    classes = settings.task.require_classes()
    api = connect(url=url, token=token, timeout_s=config.request_timeout_s)  # fails fast without the extra
    wake = threading.Event()
    if stop is None:
        stop = StopFlag()

        def stop_now(*_: object) -> None:
            stop.set()
            wake.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, stop_now)
    serve_metrics(settings.metrics.port, settings.metrics.host, agent=AGENT)
    hints = (
        serve_hints(host=settings.metrics.host, port=config.webhook_port, wake=wake)
        if config.webhook_port
        else None
    )
    state = BridgeState(config.state_file or settings.paths.state_dir / "label-studio-bridge.sqlite3")
    dead_letters = KafkaDeadLetters(settings, agent=AGENT, source=SOURCE)
    bridge = Bridge(
        config=config,
        task_name=settings.task.name,
        task_classes=classes,
        api=api,
        state=state,
        open_channel=lambda annotator_id: AnnotationClient(
            settings=settings, annotator_id=annotator_id, acknowledge_explicitly=True
        ),
        dead_letters=dead_letters,
    )
    AGENT_UP.labels(AGENT).set(1)
    started = False
    next_full = 0.0
    try:
        while not stop:
            try:
                if not started:
                    bridge.start()
                    started = True
                    log.info(
                        "bridge serving %s in project %s", ", ".join(config.annotators), bridge.project_id
                    )
                full = time.monotonic() >= next_full
                if full:
                    next_full = time.monotonic() + config.poll_interval_s
                bridge.cycle(full=full)
                AGENT_LAST_PROGRESS.labels(AGENT).set(time.time())
            except (LabelStudioError, AnnotationError) as exc:
                # Label Studio or the broker is unreachable: nothing was acknowledged or recorded past
                # what was delivered, so the next cycle simply tries again.
                AGENT_ERRORS.labels(AGENT, type(exc).__name__).inc()
                log.warning("cycle failed, retrying: %s", exc)
            if wake.wait(max(0.0, min(INTAKE_INTERVAL_S, next_full - time.monotonic()))):
                next_full = 0.0  # a webhook hint (or a stop): the full cycle now
            wake.clear()
    finally:
        AGENT_UP.labels(AGENT).set(0)
        if hints is not None:
            hints.shutdown()
        bridge.close()
        dead_letters.close()
        state.close()
