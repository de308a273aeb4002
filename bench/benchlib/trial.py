"""Small pieces every trial needs: who holds an address, waiting for a daemon's state."""

from __future__ import annotations

import ipaddress

from benchlib import peers
from pycarp.lab import Lab, LabError
from pycarp.lab.daemons import Daemon, wait_for


def holds(lab: Lab, node: str, address: str) -> bool:
    wanted = ipaddress.ip_address(address)
    return any(found.ip == wanted for found in lab.addresses(node))


def wait_state(daemon: Daemon, wanted: str, timeout: float) -> float:
    """Seconds until the daemon's last logged state is ``wanted``; LabError with its log if not."""

    def reached() -> bool:
        if not daemon.alive():
            raise LabError(f"{daemon.kind} on {daemon.node} exited:\n{daemon.log()[-1500:]}")
        return peers.state(daemon) == wanted

    try:
        return wait_for(reached, timeout, 0.05)
    except LabError as error:
        if "exited" in str(error):
            raise
        raise LabError(
            f"{daemon.kind} on {daemon.node} not {wanted} within {timeout:g} s "
            f"(states {peers.states(daemon)}):\n{daemon.log()[-1500:]}"
        ) from None
