"""The long fault campaign: ``.venv/bin/python -m bench.bench_faults`` from the repository root (about
20 minutes with the defaults; run as a module so ``tests.reliability`` imports as a package).

Same campaign and per-item checker as tests/reliability (all six agents and the annotation clients
SIGKILLed at random points and restarted, short broker freezes, one 30 s and one 5-minute broker pause
by SIGSTOP/SIGCONT, rounds of the hostile-record set on every input topic, steady load), longer and
with more faults. Prints the campaign's figures and a summary table: items, faults by kind, per-item
losses (must be 0), crash-loops (must be 0) and the longest recovery; exits 1 on any loss, crash-loop or
error.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from tests.reliability.campaign import AGENTS, Campaign, CampaignConfig


def summary(report: object, seconds: float) -> str:
    figures = report.figures  # type: ignore[attr-defined]
    faults = report.faults  # type: ignore[attr-defined]
    rows = [
        ("items acknowledged (SDK)", figures["items acknowledged under load"]),
        ("hostile records (every input topic)", figures["hostile records acknowledged"]),
        ("valid labels acknowledged", figures["valid labels acknowledged"]),
        ("faults injected", sum(faults.values())),
        *((f"  {kind}", count) for kind, count in sorted(faults.items())),
        ("per-item losses (must be 0)", report.total_losses),  # type: ignore[attr-defined]
        ("crash-loops (must be 0)", figures.get("crash-loops", "?")),
        ("longest recovery", figures.get("longest recovery", "?")),
        ("wall time (s)", round(seconds)),
    ]
    width = max(len(name) for name, _ in rows)
    lines = ["", f"| {'what':<{width}} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {name:<{width}} | {value} |" for name, value in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=900, help="seconds of load (pauses included)")
    parser.add_argument("--items-per-s", type=int, default=250)
    parser.add_argument("--labels-per-s", type=int, default=15)
    parser.add_argument("--kills-per-agent", type=int, default=3, help="SIGKILLs of each of the six agents")
    parser.add_argument("--annotate-kills", type=int, default=3, help="SIGKILLs of annotation clients")
    parser.add_argument("--broker-freezes", type=int, default=4, help="short pauses, 2 s to --max-freeze-s")
    parser.add_argument("--max-freeze-s", type=float, default=10.0)
    parser.add_argument(
        "--pauses", type=float, nargs="*", default=[30.0, 300.0], help="long broker pauses (s)"
    )
    parser.add_argument("--hostile-rounds", type=int, default=3)
    parser.add_argument(
        "--max-hard-per-day",
        type=int,
        default=100,
        help="annotators' hard-item quota (the CI campaign keeps it at 2 to test it across restarts)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="keep logs here (default: a temp dir)")
    args = parser.parse_args()
    config = CampaignConfig(
        duration_s=args.duration,
        items_per_s=args.items_per_s,
        labels_per_s=args.labels_per_s,
        agent_kills={**dict.fromkeys(AGENTS, args.kills_per_agent), "annotate": args.annotate_kills},
        broker_freezes=args.broker_freezes,
        freeze_s=(2.0, args.max_freeze_s),
        pauses_s=tuple(args.pauses),
        hostile_rounds=args.hostile_rounds,
        max_hard_per_day=args.max_hard_per_day,
        drain_timeout_s=300,
        seed=args.seed,
        progress=True,
    )
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="alstream-faults-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"fault campaign: {args.duration:g} s of load, logs in {workdir}", flush=True)
    started = time.monotonic()
    report = Campaign(config, workdir).run()
    print(report.render())
    print(summary(report, time.monotonic() - started))
    print(f"logs: {workdir}")
    return 1 if report.total_losses or report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
