"""Carrier-loss demotion against FreeBSD's (issue 10, item 6; docs/behaviour.md, "carrier loss").

FreeBSD adds ``ifdown_demotion_factor`` (240) **per vhid** on the dead interface to one host-wide
counter (12 vhids: 2880, OPNsense #1100), and ``sysctl net.inet.carp.demotion=N`` adds N to the
same counter. pycarp counts 240 per dead interface, as a source of its own, computed from the
carrier state. What its peers see is the advskew on the wire, ``min(advskew + demotion, 240)``:
these tests show it is FreeBSD's for every non-negative demotion, and pin the one difference
(a negative operator demotion) that docs/behaviour.md explains.
"""

from __future__ import annotations

import random

import pytest

from pycarp.core.actions import Action
from pycarp.core.host import GroupKey, Host
from pycarp.core.timing import MAX_WIRE_ADVSKEW

from .support import group_settings

DEAD_VHIDS = 12
FACTOR = 240
OTHER: GroupKey = ("eth1", 1)


def freebsd_wire_advskew(advskew: int, dead_vhids: int, sysctl: int) -> int:
    """FreeBSD: one counter, 240 per vhid on a dead interface plus the sysctl, clamped."""
    return max(0, min(advskew + FACTOR * dead_vhids + sysctl, MAX_WIRE_ADVSKEW))


def host_with_a_dead_interface(advskew: int) -> Host:
    """12 vhids on eth0 (its carrier gone), one group on eth1."""

    def execute(key: GroupKey, action: Action) -> None:
        return None

    host = Host(random.Random(3), execute, lambda key, deadline: None)
    for vhid in range(1, DEAD_VHIDS + 1):
        host.add("eth0", group_settings(vhid=vhid), 0.0)
    host.add("eth1", group_settings(vhid=1, advskew=advskew), 0.0)
    assert host.link_changed("eth0", False, 1.0)
    return host


@pytest.mark.parametrize("advskew", [0, 10, 100, 239])
@pytest.mark.parametrize("sysctl", [0, 1, 50, 2000])
def test_the_other_groups_advertise_what_freebsd_would_for_any_positive_demotion(
    advskew: int, sysctl: int
) -> None:
    host = host_with_a_dead_interface(advskew)
    host.demote("+", sysctl, 2.0)
    assert host.machine(OTHER).advskew_on_wire == freebsd_wire_advskew(advskew, 12, sysctl)
    assert host.machine(OTHER).advskew_on_wire == MAX_WIRE_ADVSKEW


def test_the_operator_demotion_adds_to_the_carrier_demotion_and_is_kept_apart() -> None:
    host = host_with_a_dead_interface(0)
    assert host.demote("+", 30, 2.0) == 30
    assert host.demote("+", 30, 2.0) == 60  # adds, as the sysctl does
    sources = host.sources(OTHER)
    assert (sources.carrier, sources.operator, sources.total) == (FACTOR, 60, FACTOR + 60)
    assert host.link_changed("eth0", True, 3.0)  # the link is back: only the operator's stays
    assert (host.sources(OTHER).carrier, host.sources(OTHER).total) == (0, 60)
    assert host.machine(OTHER).advskew_on_wire == 60


def test_removing_the_dead_interfaces_groups_strands_nothing() -> None:
    """OPNsense #2780: a vhid removed while its link was down left FreeBSD's counter wrong.
    pycarp's carrier demotion is computed from the state, never added and subtracted."""
    host = host_with_a_dead_interface(0)
    for vhid in range(1, DEAD_VHIDS):
        host.remove(("eth0", vhid), 2.0)
        assert host.sources(OTHER).carrier == FACTOR
    host.remove(("eth0", DEAD_VHIDS), 2.0)
    assert host.sources(OTHER).carrier == 0
    assert host.machine(OTHER).advskew_on_wire == 0


def test_the_one_difference_a_negative_operator_demotion() -> None:
    """FreeBSD: 2880 - 300 still demotes to the ceiling; pycarp: 240 - 300 leaves the host
    preferred (advskew 10 - 60, i.e. 0). The documented price of a dead link weighing 240
    whatever number of vhids it carries."""
    host = host_with_a_dead_interface(10)
    host.demote("=", -300, 2.0)
    assert freebsd_wire_advskew(10, 12, -300) == MAX_WIRE_ADVSKEW
    assert host.machine(OTHER).advskew_on_wire == 0
    host.demote("=", -200, 2.0)  # within one factor: a dead link still outweighs it
    assert host.machine(OTHER).advskew_on_wire == 50 == freebsd_wire_advskew(10, 1, -200)
