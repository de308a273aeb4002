"""Small pieces every trial needs: who holds an address, waiting for a daemon's state."""

from __future__ import annotations

from pycarp.lab import checks
from pycarp.lab.checks import holds
from pycarp.lab.daemons import Daemon

__all__ = ["holds", "wait_state"]


def wait_state(daemon: Daemon, wanted: str, timeout: float) -> float:
    """Seconds until the daemon's last state is ``wanted``; LabError with its log if not."""
    return checks.wait_for_state(daemon, wanted, timeout=timeout, poll=0.05)
