"""The campaign's watcher restarts a process that exits on its own and calls it a crash-loop after
``crash_loop_after`` such exits; a process killed and restarted by the injector (under its lock) is
not an unexpected exit."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.reliability.faults import AgentProcess, FaultLog, Watcher
from tests.support.waiting import wait_until


def test_a_process_that_keeps_exiting_is_a_crash_loop(tmp_path: Path) -> None:
    failing = AgentProcess("failing", dict(os.environ), tmp_path, args=["no-such-command"])
    watcher = Watcher(processes={"failing": failing}, faults=FaultLog(), crash_loop_after=2)
    failing.start()

    def looped() -> bool:
        watcher.check()
        return bool(watcher.crash_loops())

    wait_until(looped, timeout_s=120, what="three unexpected exits", interval_s=0.2)
    assert watcher.crash_loops() == {"failing": 3}
    assert "failing exited with 2" in watcher.exit_details[0]
    failing.kill()


def test_a_kill_by_the_injector_is_not_an_unexpected_exit(tmp_path: Path) -> None:
    steady = AgentProcess(
        "steady",
        dict(os.environ),
        tmp_path,
        program=sys.executable,
        args=["-c", "import time; time.sleep(60)"],
    )
    watcher = Watcher(processes={"steady": steady}, faults=FaultLog())
    steady.start()
    with steady.lock:  # the injector's way: kill and restart while holding the lock
        steady.kill()
        steady.start()
    watcher.check()
    assert not watcher.unexpected_exits and steady.running and steady.starts == 2
    steady.kill()
