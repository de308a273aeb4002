"""A deterministic segment simulator: many routers, each running the real core, one virtual clock.

Build a :class:`Simulator`, add routers with :func:`group` settings, schedule
:mod:`~pycarp.sim.faults`, ``run_until`` a time and ask the records. ``pycarp simulate`` runs the
named scenarios of :mod:`pycarp.sim.scenarios` on top of it.
"""

from __future__ import annotations

import ipaddress

from pycarp.core.settings import GroupSettings, Protocol
from pycarp.sim.runtime import SimulationError
from pycarp.sim.segment import Link
from pycarp.sim.simulator import Simulator

VIRTUAL_NETWORK = ipaddress.IPv4Network("203.0.113.0/24")  # group addresses: 203.0.113.<vhid>
DEFAULT_PASSPHRASE = b"pycarp-sim"
PLACEHOLDER_SOURCE = ipaddress.IPv4Address("198.51.100.1")  # each router puts its own


def group(
    vhid: int = 1,
    *,
    advbase: int = 1,
    advskew: int = 0,
    preempt: bool = False,
    passphrase: bytes = DEFAULT_PASSPHRASE,
    dead_ratio: int = 3,
) -> GroupSettings:
    """Settings for one group as the simulator's routers use them: address 203.0.113.<vhid>.

    The source address is filled in by the router the settings are given to.
    """
    return GroupSettings(
        vhid=vhid,
        passphrase=passphrase,
        addresses=(VIRTUAL_NETWORK[vhid],),
        advbase=advbase,
        advskew=advskew,
        preempt=preempt,
        dead_ratio=dead_ratio,
    )


def vrrp_group(
    vhid: int = 1,
    *,
    priority: int = 100,
    interval_cs: int = 100,
    preempt: bool = True,
    preempt_delay: float = 0.0,
) -> GroupSettings:
    """A VRRPv3 group for the simulator's routers: address 203.0.113.<vhid>, no key.

    VRRPv3 settings need a source of the addresses' family; the router replaces this one with
    its own address, as for :func:`group`.
    """
    return GroupSettings(
        vhid=vhid,
        passphrase=b"",
        addresses=(VIRTUAL_NETWORK[vhid],),
        source=PLACEHOLDER_SOURCE,
        protocol=Protocol.VRRP3,
        priority=priority,
        interval=interval_cs / 100,
        preempt=preempt,
        preempt_delay=preempt_delay,
    )


__all__ = ["Link", "SimulationError", "Simulator", "group", "vrrp_group"]
