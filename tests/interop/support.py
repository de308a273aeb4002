"""What the interop tests look at: who holds the address, who says it is master, and for how long.

Both kinds of daemon are judged from outside: the address on each host's ``eth0`` (``ip addr``)
and the state lines each daemon logs. pycarp logs ``1@eth0: BACKUP -> MASTER (reason)``; ucarp
logs ``Switching to state: MASTER`` (to stderr, which the harness captures in its log file).
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Sequence

from pycarp.lab import Lab
from pycarp.lab.daemons import Daemon, wait_for
from pycarp.lab.naming import LabError

VIRTUAL = "198.51.100.100"
VIRTUAL_PREFIX = f"{VIRTUAL}/24"
POLL = 0.1  # seconds between looks: each look runs `ip addr` per host
UCARP_STATE = re.compile(r"Switching to state: (INIT|BACKUP|MASTER)")

# Bounds, in seconds, at advbase 1 and dead ratio 3. They are generous on purpose (two cores
# shared with other netns tests); the exact figures are measured in bench/, not asserted here.
STARTUP = 3 + 1 + 3.0  # master-down interval, advskew, ucarp's late reads, slack
TAKEOVER = 3 + 1 + 1 + 3.0  # kill -9 of a master: master-down + advskew + ucarp delay + slack
SETTLE = 3.0  # a state change caused by one advert (preempt, step-down): ucarp's delay + slack
STEADY = 4.0  # longer than a backup's master-down interval: a wrong takeover would show


def holders(lab: Lab, address: str = VIRTUAL, nodes: Sequence[str] | None = None) -> list[str]:
    """The nodes (all hosts by default) whose eth0 carries ``address``, in lab order."""
    wanted = ipaddress.ip_address(address)
    return [
        node
        for node in (lab.hosts if nodes is None else nodes)
        if any(found.ip == wanted for found in lab.addresses(node))
    ]


def states(daemon: Daemon) -> list[str]:
    """Every state the daemon has switched to, in order, as its log says."""
    if daemon.kind == "ucarp":
        return UCARP_STATE.findall(daemon.log())
    return [new for _vhid, _old, new, _reason in daemon.state_changes()]


def current_state(daemon: Daemon) -> str | None:
    """The state the daemon last logged (None before its first state line)."""
    found = states(daemon)
    return found[-1] if found else None


def wait_state(daemon: Daemon, state: str, timeout: float) -> float:
    """Block until the daemon's last logged state is ``state``; the seconds it took."""
    try:
        return wait_for(lambda: current_state(daemon) == state, timeout, POLL)
    except LabError:
        raise LabError(
            f"{daemon.kind} on {daemon.node} not {state} within {timeout:g} s "
            f"(states {states(daemon)}):\n{daemon.log()[-1500:]}"
        ) from None


def wait_holders(
    lab: Lab,
    expected: Sequence[str],
    timeout: float,
    address: str = VIRTUAL,
    nodes: Sequence[str] | None = None,
) -> float:
    """Block until exactly ``expected`` hold ``address``; the seconds it took."""
    try:
        return wait_for(lambda: holders(lab, address, nodes) == list(expected), timeout, POLL)
    except LabError:
        raise LabError(
            f"{address} held by {holders(lab, address, nodes)} after {timeout:g} s, "
            f"expected {list(expected)}"
        ) from None


def assert_steady(
    lab: Lab,
    daemons: Sequence[Daemon],
    holder: str,
    seconds: float = STEADY,
    address: str = VIRTUAL,
) -> None:
    """For ``seconds``: only ``holder`` has the address and no daemon changes state."""
    before = {daemon.node: states(daemon) for daemon in daemons}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert holders(lab, address) == [holder], f"{address} moved to {holders(lab, address)}"
        for daemon in daemons:
            assert daemon.alive(), f"{daemon.kind} on {daemon.node} exited:\n{daemon.log()}"
            assert states(daemon) == before[daemon.node], (
                f"{daemon.kind} on {daemon.node} changed state: {states(daemon)}\n{daemon.log()}"
            )
        time.sleep(POLL)


def converged_master(lab: Lab, daemons: Sequence[Daemon], address: str = VIRTUAL) -> str | None:
    """The one live node that both holds the address and says MASTER, if there is exactly one.

    Dead daemons are left out: ucarp keeps its address after kill -9, as after a crash.
    """
    alive = [daemon for daemon in daemons if daemon.alive()]
    masters = [daemon.node for daemon in alive if current_state(daemon) == "MASTER"]
    holding = holders(lab, address, [daemon.node for daemon in alive])
    if len(masters) == 1 and holding == masters:
        return masters[0]
    return None


def wait_converged(lab: Lab, daemons: Sequence[Daemon], timeout: float, stable: float = 2.5) -> str:
    """Block until one live master holds the address for ``stable`` seconds; returns it."""
    started = time.monotonic()
    candidate: str | None = None
    since = started
    while time.monotonic() - started < timeout:
        now_master = converged_master(lab, daemons)
        if now_master != candidate:
            candidate, since = now_master, time.monotonic()
        elif candidate is not None and time.monotonic() - since >= stable:
            return candidate
        time.sleep(POLL)
    report = "\n".join(f"{d.kind}@{d.node} alive={d.alive()} {states(d)}" for d in daemons)
    raise LabError(
        f"no single stable master within {timeout:g} s (address on {holders(lab)}):\n{report}"
    )


def remove_address(lab: Lab, node: str, prefix: str = VIRTUAL_PREFIX) -> None:
    """What an operator does after a ucarp crash: delete the address it left behind."""
    lab.exec(node, ["ip", "addr", "del", prefix, "dev", lab.interface], check=True)
