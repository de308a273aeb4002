"""SIGINT and SIGTERM, however many and whenever: one clean shutdown, exit 0, no traceback.

``systemctl stop`` plus an impatient Ctrl-C, or a supervisor that sends TERM twice, must not
turn a clean bow-out into exit 130/143 or a KeyboardInterrupt traceback: a signal can land
while the daemon is still starting (before its asyncio handlers exist), while it runs, or
while it tears down (after they were removed). Each round starts a real daemon on the real
kernel and keeps sending SIGTERM and SIGINT, alternating a millisecond or so apart, until it
has exited, so every phase of the teardown gets hit.
"""

from __future__ import annotations

import functools
import pathlib
import signal
import time

from pycarp.lab import Lab
from pycarp.lab.daemons import Daemon, pycarp_args, start_pycarp, wait_for

from .support import VIPS, held_ips, ips, wait_for_state, wait_started

ROUNDS = 10
PHASES = ("starting", "started", "master")


def catches(pid: int, signum: int) -> bool:
    """True once the process has a handler for ``signum`` (``SigCgt`` in its status)."""
    try:
        status = pathlib.Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    for line in status.splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signum - 1)))
    return False


def hammer(daemon: Daemon, first: int, gap: float) -> int:
    """Send ``first``, then the other stop signal, alternating every ``gap`` s, until it exits
    (bounded); return how many were sent. By PID, only while the process is ours and alive."""
    second = signal.SIGINT if first == signal.SIGTERM else signal.SIGTERM
    sent = 0
    deadline = time.monotonic() + 15
    while daemon.alive() and time.monotonic() < deadline:
        daemon.signal((first, second)[sent % 2])
        sent += 1
        time.sleep(gap)
    return sent


def test_repeated_stop_signals_give_one_clean_shutdown(root: None, tmp_path: pathlib.Path) -> None:
    results = []
    with Lab.create(hosts=1) as lab:
        for number in range(ROUNDS):
            phase = PHASES[number % len(PHASES)]
            args = pycarp_args(lab, "h1", addresses=VIPS, extra=["--deadratio", "1"])
            daemon = start_pycarp(lab, "h1", args, workdir=tmp_path, tag=f"-{number}")
            if phase == "starting":
                # Its handlers are in place (pycarp's main runs), its imports, the configuration
                # and the groups' start are still ahead.
                ready = functools.partial(catches, daemon.pid, signal.SIGTERM)
                wait_for(ready, 15, interval=0.001)
            elif phase == "started":
                wait_started(daemon)
            else:
                wait_for_state(daemon, "MASTER", timeout=10)
                wait_for(lambda: held_ips(lab, "h1") == ips(VIPS), 5)
            first = signal.SIGTERM if number % 2 else signal.SIGINT
            sent = hammer(daemon, first, gap=0.0005 + 0.001 * (number % 3))
            status = daemon.process.wait(timeout=5)
            log = daemon.log()
            results.append((phase, sent, status))
            assert status == 0, f"round {number} ({phase}, {sent} signals): exit {status}\n{log}"
            assert "Traceback" not in log, log
            assert "KeyboardInterrupt" not in log, log
            assert held_ips(lab, "h1") == set(), f"round {number}: addresses left behind"
            if phase == "master":
                assert "shutting down: bowing out of 1 group(s)" in log
    print("rounds (phase, signals sent, exit status):", results)
