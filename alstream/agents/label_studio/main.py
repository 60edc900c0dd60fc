"""``alstream agent label-studio``: the bridge between alstream and a Label Studio server.

Needs the optional extra ``alstream[label-studio]`` and ``[label_studio] url, api_token, annotators``.
It starts through the one agent runtime like every agent: its cycle is an idle callback, every
``INTAKE_INTERVAL_S`` (arrived assignments are imported into Label Studio) with a full cycle (a poll
of Label Studio's annotations, presence, expired leases) every ``label_studio.poll_interval_s`` or at
once after a webhook hint. A cycle that fails (Label Studio or the broker unreachable) acknowledged and
recorded nothing past what was delivered, so the next one simply tries again; the runtime counts it.
A stop (SIGTERM) sends no OFFLINE: a restarted bridge finds its queues as they were.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from alstream.agents.label_studio.api import connect
from alstream.agents.label_studio.bridge import AGENT, SOURCE, Bridge
from alstream.agents.label_studio.outputs import KafkaDeadLetters
from alstream.agents.label_studio.state import BridgeState
from alstream.agents.label_studio.webhook import serve_hints
from alstream.agents.launch import launch
from alstream.annotation.client import AnnotationClient
from alstream.exceptions import ConfigError
from alstream.security.identity import this_tool
from alstream.settings import AlstreamSettings
from alstream.streams.runtime import AgentRuntime
from alstream.streams.stopping import StopFlag

__all__ = ["AGENT", "INTAKE_INTERVAL_S", "BridgeCycle", "run", "setup"]

log = logging.getLogger(__name__)
INTAKE_INTERVAL_S = 0.5  # new assignments are imported this often, between the polls of Label Studio


class BridgeCycle:
    """The bridge's idle callback: starts the bridge on its first call, then runs a cheap cycle (intake
    only) or a full one when the poll interval passed or a webhook hinted that an annotation was saved."""

    def __init__(self, *, bridge: Bridge, poll_interval_s: float, hinted: threading.Event) -> None:
        self.bridge = bridge
        self.poll_interval_s = poll_interval_s
        self.hinted = hinted
        self.started = False
        self.next_full = 0.0

    def __call__(self) -> None:
        if not self.started:
            self.bridge.start()
            self.started = True
            log.info(
                "bridge serving %s in project %s",
                ", ".join(self.bridge.config.annotators),
                self.bridge.project_id,
            )
        full = self.hinted.is_set() or time.monotonic() >= self.next_full
        if full:
            self.hinted.clear()
            self.next_full = time.monotonic() + self.poll_interval_s
        self.bridge.cycle(full=full)


def require_bound_annotators(settings: AlstreamSettings) -> None:
    """With ``[identity] tools``, the bridge is one tool (its principal) and every annotator it serves must
    be bound to it, or the gateway would refuse their labels: fail at start, naming them."""
    identity = settings.identity
    if not identity.enforced:
        return
    tool = this_tool(identity, settings.kafka.sasl_username)
    unbound = [a for a in settings.label_studio.annotators if not identity.may_act_for(tool, a)]
    if unbound:
        raise ConfigError(
            f"[label_studio] annotators {', '.join(unbound)} are not bound to this bridge's tool {tool!r}: "
            "add them to its list in [identity] tools"
        )


def setup(settings: AlstreamSettings) -> Callable[[AgentRuntime], None]:
    """Configuration is checked here, before the runtime waits for the cluster: a missing URL, token,
    annotator list, task classes or the extra fail at once, naming what to set."""
    config = settings.label_studio
    url, token = config.require_connection()
    classes = settings.task.require_classes()
    require_bound_annotators(settings)
    api = connect(url=url, token=token, timeout_s=config.request_timeout_s)  # fails fast without the extra

    def build(runtime: AgentRuntime) -> None:
        state = BridgeState(config.state_file or settings.paths.state_dir / "label-studio-bridge.sqlite3")
        runtime.on_shutdown(state.close)
        bridge = Bridge(
            config=config,
            task_name=settings.task.name,
            task_classes=classes,
            api=api,
            state=state,
            open_channel=lambda annotator_id: AnnotationClient(
                settings=settings, annotator_id=annotator_id, acknowledge_explicitly=True
            ),
            dead_letters=KafkaDeadLetters(
                sink=runtime.dead_letters, producer=runtime.producer, source=SOURCE
            ),
        )
        runtime.on_shutdown(bridge.close)
        hinted = threading.Event()
        if config.webhook_port:
            hints = serve_hints(host=settings.metrics.host, port=config.webhook_port, wake=hinted)
            runtime.on_shutdown(hints.shutdown)
        cycle = BridgeCycle(bridge=bridge, poll_interval_s=config.poll_interval_s, hinted=hinted)
        runtime.every(INTAKE_INTERVAL_S, cycle, what="the Label Studio cycle")

    return build


def run(settings: AlstreamSettings, *, stop: StopFlag | None = None) -> None:
    """Block until SIGTERM / SIGINT (or ``stop`` is set), serving metrics on the bridge's port."""
    launch(settings, agent=AGENT, setup=setup, stop=stop)
