"""Longer fault-injection campaigns than the test suite runs: ``python bench/bench_faults.py --duration 600``.

Same campaign and checker as tests/reliability (agents SIGKILLed at random points, the broker frozen
with SIGSTOP/SIGCONT, steady load), with more load, more faults and a chosen seed. Prints the figures
and exits 1 if anything acknowledged was lost.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "reliability"))
from campaign import Campaign, CampaignConfig


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=300, help="seconds of load")
    parser.add_argument("--items-per-s", type=int, default=1_000)
    parser.add_argument("--labels-per-s", type=int, default=30)
    parser.add_argument("--scorer-kills", type=int, default=15)
    parser.add_argument("--labels-kills", type=int, default=10)
    parser.add_argument("--router-kills", type=int, default=10, help="ignored until the router is on main")
    parser.add_argument("--broker-freezes", type=int, default=6)
    parser.add_argument("--max-freeze-s", type=float, default=10.0, help="longest broker pause (SIGSTOP)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep agent logs here (default: a temp dir)"
    )
    args = parser.parse_args()
    config = CampaignConfig(
        duration_s=args.duration,
        items_per_s=args.items_per_s,
        labels_per_s=args.labels_per_s,
        agent_kills={"scorer": args.scorer_kills, "router": args.router_kills, "labels": args.labels_kills},
        broker_freezes=args.broker_freezes,
        freeze_s=(2.0, args.max_freeze_s),
        drain_timeout_s=300,
        seed=args.seed,
    )
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="alstream-faults-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report = Campaign(config, workdir).run()
    print(report.render())
    print(f"agent logs: {workdir}")
    return 1 if report.total_losses or report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
