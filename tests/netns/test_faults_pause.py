"""A daemon frozen with SIGSTOP for five seconds, then resumed (a suspended VM, a debugger).

While a master is frozen its address stays on its interface and it sends nothing, so the
backup takes over: for a moment both hosts hold the address. On resume, pycarp's stall
detection (core/machine.py: a deadline that fires more than ``max(deadratio - 1, 1) x
advbase`` late) makes the old master step down without sending a single advert as master, so
the new master is never challenged.
"""

from __future__ import annotations

import pathlib
import time

from pycarp.lab import Lab
from pycarp.lab.capture import AdvertCapture
from pycarp.lab.daemons import wait_for

from .faults import (
    POLL,
    SLACK,
    STEADY,
    VIRTUAL_V4,
    Group,
    current_state,
    master_down,
    state_changes,
)

PAUSE_SECONDS = 5.0  # longer than the backup's master-down interval (3.4 s)
# The backup's deadline is 2.4-3.4 s after the pause begins (its last advert heard was 0-1 s
# earlier): four seconds make it expire during the pause, by less than the stall threshold.
BACKUP_PAUSE_SECONDS = 4.0
RESUME_LIMIT = 1.0  # seconds from SIGCONT to the address being on the new master only


def test_paused_master_steps_down_on_resume_and_does_not_fight(
    root: None, tmp_path: pathlib.Path
) -> None:
    with Lab.create(hosts=2) as lab:
        group = Group(lab, tmp_path)
        group.elect("h1", lab.hosts[1:])
        with AdvertCapture(lab, tmp_path / "pause.pcap") as capture:
            group["h1"].pause()
            paused, paused_wall = time.monotonic(), time.time()
            wait_for(lambda: current_state(group["h2"]) == "MASTER", master_down(100) + SLACK, POLL)
            # The frozen master still has its address: both hosts hold it until the resume.
            wait_for(lambda: group.holders() == ["h1", "h2"], SLACK, POLL)
            h2_history = state_changes(group["h2"])
            time.sleep(max(0.0, paused + PAUSE_SECONDS - time.monotonic()))

            group["h1"].resume()
            resumed = time.monotonic()
            group.wait_converged("h2", RESUME_LIMIT)
            print(
                f"pause {PAUSE_SECONDS:g} s: one holder {time.monotonic() - resumed:.3f} s "
                "after SIGCONT"
            )
            group.assert_steady("h2", STEADY)
            adverts = capture.adverts()

        step_down = state_changes(group["h1"])[-1]
        assert (step_down.old, step_down.new) == ("MASTER", "BACKUP")
        assert "paused" in step_down.reason, step_down.reason
        assert state_changes(group["h2"]) == h2_history, "the new master must not move"
        fought = [a for a in adverts if a.source == str(lab.ipv4("h1").ip)]
        fought = [a for a in fought if a.timestamp > paused_wall + 0.1]
        assert fought == [], f"h1 advertised after its pause: {fought}"
        assert group.holders(VIRTUAL_V4) == ["h2"]


def test_paused_backup_does_not_take_over_on_resume(root: None, tmp_path: pathlib.Path) -> None:
    """A backup frozen for longer than its master-down interval must not take over on resume.

    BACKUP_PAUSE_SECONDS puts the overdue deadline 0.6-1.6 s late: below the stall threshold
    (2 s), so stall detection does not see it. What must save the day is the master's
    adverts that arrived during the pause: the kernel reports the expired timeout before them,
    so asyncio runs the timer first, and the daemon must read them before acting on it.
    """
    with Lab.create(hosts=2) as lab:
        group = Group(lab, tmp_path)
        group.elect("h1", lab.hosts[1:])
        group["h2"].pause()
        time.sleep(BACKUP_PAUSE_SECONDS)
        group["h2"].resume()
        group.assert_steady("h1", STEADY)
        assert [c.new for c in state_changes(group["h2"])] == ["BACKUP"]
