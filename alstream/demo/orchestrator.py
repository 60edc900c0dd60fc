"""The main job: the whole active-learning loop on one machine, on the embedded broker.

It starts a broker, creates the topics, trains the first model on a small random seed set (the
baseline before smart selection), starts every agent as its own process, streams the digits
dataset in waves through ``alstream produce`` (the ingestion SDK), runs simulated annotators (one of
which drifts, so a disagreement spike and a calibration round happen), asks for releases on a
cadence so the trainer retrains and the scorer hot-swaps new model versions, and ends with a final
release, an audit and a report. Everything runs through the same CLI commands an operator would use.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live

from alstream.demo import dataset, live_view
from alstream.demo.options import DemoOptions
from alstream.demo.processes import Supervisor
from alstream.exceptions import AlstreamError
from alstream.security.identity import deployment_topics
from alstream.settings import AlstreamSettings, load_settings
from alstream.streams.embedded_broker import EmbeddedBroker, free_port
from alstream.streams.topics import create_topics

MARKER = ".alstream-demo"
AGENTS = ("scorer", "router", "labels", "agreement", "release", "trainer", "tool-gateway")
BRIDGE_TOOL = "label-studio"  # the Label Studio bridge's tool (principal) name in the demo


def demo_identity(annotator_ids: list[str], ui_annotator: str | None) -> dict[str, list[str]]:
    """``[identity] tools`` of the demo: each simulated annotator is its own tool (as each person's
    annotation client is its own principal in production) and the Label Studio bridge is one tool for
    its annotator. The embedded broker authenticates nobody, so the demo shows the path (tool topics,
    the gateway, assignments without kind), not the boundary; docs/security.md says so."""
    tools = {annotator_id: [annotator_id] for annotator_id in annotator_ids}
    if ui_annotator is not None:
        tools[BRIDGE_TOOL] = [ui_annotator]
    return tools


REPO_ROOT = Path(__file__).resolve().parents[2]


class DemoFailed(AlstreamError):
    """A step of the demo did not work; the message says which and where its log is."""


@dataclass
class DemoResult:
    output_dir: Path
    report_file: Path | None = None
    release_dirs: list[Path] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


def _policy_and_quotas(config_dir: Path) -> tuple[Path, Path]:
    """Copy the shipped example policy and quotas next to the run, so the run records what it used."""
    config_dir.mkdir(parents=True, exist_ok=True)
    policy = config_dir / "policy.toml"
    quotas = config_dir / "quotas.toml"
    shutil.copyfile(_shipped("policies", "demo.toml"), policy)
    shutil.copyfile(_shipped("quotas", "demo.toml"), quotas)
    return policy, quotas


def _shipped(folder: str, name: str) -> Path:
    for base in (REPO_ROOT, Path.cwd()):
        candidate = base / folder / name
        if candidate.is_file():
            return candidate
    raise DemoFailed(f"{folder}/{name} not found next to the alstream sources; run the demo from a checkout")


class Demo:
    """One demo run. ``run()`` always stops what it started, even when a step fails."""

    def __init__(self, *, options: DemoOptions, console: Console | None = None) -> None:
        self.options = options
        self.console = console or Console()
        self.out = options.output_dir.resolve()
        self.state_dir = self.out / "state"
        self.data_dir = self.out / "data"
        self.log_dir = self.out / "logs"
        self.supervisor: Supervisor | None = None
        self.ports: dict[str, int] = {}
        self.started = time.monotonic()

    # -- setup -------------------------------------------------------------------------------------

    def _environment(
        self, broker: EmbeddedBroker, policy: Path, quotas: Path, data: dataset.DemoData
    ) -> dict[str, str]:
        """The settings of every process of the run, as the environment each child gets."""
        env = {
            **broker.client_environment(),
            "ALSTREAM_KAFKA__TOPIC_PREFIX": "demo.",
            "ALSTREAM_KAFKA__SESSION_TIMEOUT_MS": "6000",
            "ALSTREAM_TASK__NAME": "digits",
            "ALSTREAM_TASK__CLASSES": json.dumps(dataset.CLASSES),
            "ALSTREAM_PATHS__STATE_DIR": str(self.state_dir),
            "ALSTREAM_PATHS__POLICY_FILE": str(policy),
            "ALSTREAM_PATHS__QUOTAS_FILE": str(quotas),
            "ALSTREAM_PATHS__QA_GOLD_FILE": str(data.qa_gold_file),
            "ALSTREAM_TRAINER__VALIDATION_FILE": str(data.validation_file),
            "ALSTREAM_TRAINER__SEED_FILE": str(data.seed_file),
            # A two-minute run completes ~100 overlapped items: shorter agreement windows than the
            # production defaults let the drifting annotator's spike be seen (and called) in time.
            "ALSTREAM_AGREEMENT__WINDOW_ITEMS": "15",
            "ALSTREAM_AGREEMENT__BASELINE_ITEMS": "120",
            "ALSTREAM_AGREEMENT__MIN_BASELINE_ITEMS": "20",
            "ALSTREAM_AGREEMENT__SETTLE_S": "10",
            # The spike is called on the first window after the drift; with a 15-item window that
            # window sits near the production threshold (z 3.0-3.3 in runs), so the demo asks for 2.5.
            "ALSTREAM_AGREEMENT__Z_THRESHOLD": "2.5",
            # A two-minute run labels a few dozen random-slice items: enough for a (noisy) online proof.
            "ALSTREAM_TRAINER__ONLINE_MIN_EVAL_LABELS": "15",
            "PYTHONUNBUFFERED": "1",
        }
        env.update(self.options.extra_env)
        return env

    def _settings(self, env: dict[str, str]) -> AlstreamSettings:
        """The same settings the children read, for this process (the environment is not touched)."""
        return load_settings(environ={**os.environ, **env})

    def _start_agent(self, name: str) -> None:
        assert self.supervisor is not None
        port = free_port()
        self.ports[name] = port
        self.supervisor.start(name, ["agent", name], metrics_port=port)

    def _run_step(self, name: str, args: list[str], *, timeout_s: float = 180) -> None:
        assert self.supervisor is not None
        code = self.supervisor.run_to_completion(name, args, timeout_s=timeout_s)
        if code != 0:
            log = self.supervisor.processes[name].log_file
            raise DemoFailed(
                f"step {name!r} ({' '.join(args)}) exited with {code}; see {log}:\n"
                f"{self.supervisor.processes[name].tail()}"
            )

    def _check_alive(self) -> None:
        assert self.supervisor is not None
        for process in self.supervisor.processes.values():
            if process.name in self.ports and not process.running:
                raise DemoFailed(
                    f"agent {process.name!r} stopped (exit {process.process.returncode}); "
                    f"see {process.log_file}:\n{process.tail()}"
                )

    # -- the run -----------------------------------------------------------------------------------

    def run(self) -> DemoResult:
        from alstream.demo import report, streaming  # imported late: they pull in the agents' code

        marker = self.out / MARKER
        if self.out.exists() and any(self.out.iterdir()):
            if not marker.is_file():  # never delete a folder a demo did not create
                raise DemoFailed(f"{self.out} exists and was not written by a demo: choose another --output")
            shutil.rmtree(self.out)
        self.out.mkdir(parents=True, exist_ok=True)
        marker.write_text("written by `alstream demo`; the next demo run with this --output replaces it\n")
        self.log_dir.mkdir(parents=True)
        result = DemoResult(output_dir=self.out)
        console = self.console
        console.print(f"[bold]alstream demo[/bold]: output in {self.out}")
        self._say = lambda text: console.print(f"[dim]{time.monotonic() - self.started:6.1f}s[/dim] {text}")
        data = dataset.prepare(self.data_dir, seed=self.options.seed)
        policy, quotas = _policy_and_quotas(self.out / "config")
        ui = self._label_studio_ui()
        with EmbeddedBroker(log_file=self.log_dir / "broker.log") as broker:
            env = self._environment(broker, policy, quotas, data)
            tools = demo_identity(
                [a.annotator_id for a in self.options.annotators], ui.annotator_id if ui is not None else None
            )
            env["ALSTREAM_IDENTITY__TOOLS"] = json.dumps(tools)
            settings = self._settings(env)
            self.supervisor = Supervisor(log_dir=self.log_dir, env=env)
            try:
                self._say(f"broker at {broker.bootstrap_servers}; creating topics")
                create_topics(
                    settings,
                    specs=deployment_topics(settings.identity),  # with each tool's own topics
                    partitions_override=self.options.partitions,
                )
                self._say("training the first model on the random seed set (the baseline)")
                self._run_step("initial-train", ["train", "--seed-only"])
                for name in AGENTS:
                    self._start_agent(name)
                self._say(f"agents started: {', '.join(AGENTS)} (metrics ports {self.ports})")
                if ui is not None:
                    self._start_label_studio(ui)
                feeder = streaming.WaveFeeder(
                    data=data,
                    waves=self.options.waves,
                    synthetic_items=self.options.synthetic_items,
                    seed=self.options.seed,
                    start_process=self.supervisor.start,
                    directory=self.data_dir / "waves",
                    last_wave_at=0.8,
                    image_dir=ui.images_dir if ui is not None else None,
                )
                for annotator in self.options.annotators:
                    args = [
                        "annotate",
                        "--annotator",
                        annotator.annotator_id,
                        "--auto",
                        "--accuracy",
                        str(annotator.accuracy),
                        "--seconds-per-item",
                        str(annotator.seconds_per_item),
                        "--truth",
                        str(data.truth_file),
                    ]
                    if annotator.drift_after is not None:
                        args += [
                            "--drift-after",
                            str(annotator.drift_after),
                            "--drift-accuracy",
                            str(annotator.drift_accuracy),
                        ]
                    self.supervisor.start(
                        annotator.annotator_id,
                        args,
                        extra_env={"ALSTREAM_IDENTITY__TOOL": annotator.annotator_id},  # its own tool
                    )
                self._loop(feeder)
                self._say("stopping the annotators; final release and retraining")
                self.supervisor.stop_all(names=[a.annotator_id for a in self.options.annotators])
                self._wait_quiet("alstream_labels_total", agent="labels")
                runs_before = self._metric_total("trainer", "alstream_trainer_runs_total")
                self._run_step("final-release", ["release", "build"])
                # Wait for the trainer to retrain on the final release. It skips a release whose content it
                # already trained on, so this wait is bounded and not an error: the last model is then the
                # one trained on the same labels.
                self._wait_for(
                    lambda: self._metric_total("trainer", "alstream_trainer_runs_total") > runs_before,
                    timeout_s=20,
                )
                self._stop_everything()
                self._say("auditing the topics and writing the report")
                result.facts = report.collect_facts(
                    settings=settings, state_dir=self.state_dir, data=data, feeder=feeder
                )
                result.report_file = report.write_report(facts=result.facts, output_dir=self.out)
                result.release_dirs = [Path(p) for p in result.facts.get("release_dirs", [])]
            finally:
                self._stop_everything()
                if ui is not None:
                    ui.stop()
        return result

    def _label_studio_ui(self) -> Any:
        if not self.options.ui:
            return None
        from alstream.demo.label_studio_ui import LabelStudioUi

        return LabelStudioUi(
            output_dir=self.out,
            log_dir=self.log_dir,
            images_dir=self.data_dir / "images",
            annotator_id=self.options.ui_annotator,
            task_name="digits",
        )

    def _start_label_studio(self, ui: Any) -> None:
        from alstream.demo.label_studio_ui import print_login

        assert self.supervisor is not None
        self._say("starting Label Studio and the bridge (alstream agent label-studio)")
        ui.start(self.console)
        port = free_port()
        self.ports["label-studio"] = port
        self.supervisor.start(
            "label-studio",
            ["agent", "label-studio"],
            metrics_port=port,
            extra_env={**ui.bridge_environment(), "ALSTREAM_IDENTITY__TOOL": BRIDGE_TOOL},
        )
        # The login names the bridge's project: print it once the project is there to open.
        deadline = time.monotonic() + 300
        while not ui.project_ready():
            self._check_alive()
            if time.monotonic() > deadline:
                raise DemoFailed(
                    "the Label Studio bridge made no project within 300 s; see "
                    f"{self.supervisor.processes['label-studio'].log_file}"
                )
            time.sleep(1)
        print_login(self.console, ui.login())

    def _loop(self, feeder: Any) -> None:
        """Runs for ``duration_s`` from now (the agents are up): waves, cadence releases, live view."""
        duration = self.options.duration_s
        loop_started = time.monotonic()
        next_release = loop_started + self.options.retrain_every_s
        metric_ports = list(self.ports.values())
        with Live(console=self.console, refresh_per_second=2, transient=False, auto_refresh=False) as live:
            while True:
                now = time.monotonic()
                elapsed = now - loop_started
                if elapsed >= duration:
                    break
                self._check_alive()
                feeder.feed_due(elapsed_fraction=elapsed / duration)
                if now >= next_release and elapsed + 10 < duration:
                    self.supervisor.start(f"release-{int(elapsed)}", ["release", "build"])  # type: ignore[union-attr]
                    next_release = now + self.options.retrain_every_s
                if self.options.live_view:
                    live.update(
                        live_view.render(
                            ports=metric_ports,
                            elapsed_s=elapsed,
                            duration_s=duration,
                            phase=f"items sent {feeder.sent}",
                            releases=len(list((self.state_dir / "releases").glob("*/manifest.json"))),
                        ),
                        refresh=True,
                    )
                time.sleep(1.0)

    def _metric_total(self, agent: str, name: str) -> float:
        from alstream.demo import scrape

        return scrape.total(scrape.scrape(self.ports[agent]), name)

    def _wait_for(self, condition: Any, *, timeout_s: float) -> None:
        """Wait until ``condition()`` holds or ``timeout_s`` passes (no error then); fails if an agent
        died."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._check_alive()
            if condition():
                return
            time.sleep(0.5)

    def _wait_quiet(self, name: str, *, agent: str, quiet_s: float = 3.0, timeout_s: float = 30.0) -> None:
        """Wait until an agent's counter stops moving: it has caught up with what was sent."""
        last, since = -1.0, time.monotonic()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = self._metric_total(agent, name)
            if value != last:
                last, since = value, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return
            time.sleep(0.5)

    def _stop_everything(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop_all(grace_s=10.0)
