"""What the interop tests look at: who holds the address, who says it is master, and for how long.

Both kinds of daemon are judged from outside, through :mod:`pycarp.lab.checks`: the address on
each host's ``eth0`` (``ip addr``) and the states each daemon went through: pycarp's
``state_changed`` events, ucarp's ``Switching to state: MASTER`` log lines (its only account,
read in :meth:`pycarp.lab.daemons.Daemon.states`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from pycarp.lab import Lab, checks
from pycarp.lab.daemons import Daemon
from pycarp.lab.naming import LabError

VIRTUAL = "198.51.100.100"
VIRTUAL_PREFIX = f"{VIRTUAL}/24"
POLL = 0.1  # seconds between looks: each look runs `ip addr` per host

# Bounds, in seconds, at advbase 1 and dead ratio 3. They are generous on purpose (two cores
# shared with other netns tests); the exact figures are measured in bench/, not asserted here.
STARTUP = 3 + 1 + 3.0  # master-down interval, advskew, ucarp's late reads, slack
TAKEOVER = 3 + 1 + 1 + 3.0  # kill -9 of a master: master-down + advskew + ucarp delay + slack
SETTLE = 3.0  # a state change caused by one advert (preempt, step-down): ucarp's delay + slack
STEADY = 4.0  # longer than a backup's master-down interval: a wrong takeover would show


def holders(lab: Lab, address: str = VIRTUAL, nodes: Sequence[str] | None = None) -> list[str]:
    """The nodes (all hosts by default) whose eth0 carries ``address``, in lab order."""
    return checks.holders(lab, address, nodes)


def states(daemon: Daemon) -> list[str]:
    """Every state the daemon has switched to, in order."""
    return daemon.states()


def current_state(daemon: Daemon) -> str | None:
    """The state the daemon last entered (None before its first)."""
    return checks.last_state(daemon)


def wait_state(daemon: Daemon, state: str, timeout: float) -> float:
    """Block until the daemon's last state is ``state``; the seconds it took."""
    return checks.wait_for_state(daemon, state, timeout=timeout, poll=POLL)


def wait_holders(
    lab: Lab,
    expected: Sequence[str],
    timeout: float,
    address: str = VIRTUAL,
    nodes: Sequence[str] | None = None,
) -> float:
    """Block until exactly ``expected`` hold ``address``; the seconds it took."""
    return checks.wait_holders(lab, expected, timeout, address, nodes=nodes, poll=POLL)


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
