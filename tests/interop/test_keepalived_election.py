"""pycarp and keepalived 2.2.7 in one VRRPv3 group, each as the active router, IPv4 and IPv6.

Each direction walks one life cycle: election by priority, kill -9 of the active router (the
other takes over after its Active_Down_Interval, measured on the wire), the killed one back
(preemption: priority wins back the group), SIGTERM (priority 0: the other takes over after
only its Skew_Time). Equal priorities: two active routers that meet keep the one with the
higher primary address (IPv4 the host's own, IPv6 the link-local one). Without preempt (either
side), a router back at a higher priority leaves the group where it is.
"""

from __future__ import annotations

import pathlib
import time

import pytest

from pycarp.lab import Lab, checks, keepalived
from pycarp.lab.daemons import Daemon

from .vrrp3 import (
    HIGH,
    LOW,
    SETTLE,
    SLACK,
    VIRTUAL,
    VrrpWire,
    assert_quiet,
    down_interval,
    need_keepalived,
    skew,
    source_of,
    start_keepalived,
    start_pycarp_vrrp,
)

pytestmark = pytest.mark.netns
FAMILIES = pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
INTERVAL = 0.2  # 3 intervals + skew: 0.72 s for the backup at priority 100
EARLY = 0.02  # capture timestamps of two senders: a takeover is never earlier than this


@pytest.fixture(autouse=True)
def _keepalived_installed() -> None:
    need_keepalived()


def assert_timer_takeover(wire: VrrpWire, old: str, new: str, after: float) -> float:
    """``new`` took over from a silent ``old`` at its Active_Down_Interval; the gap."""
    first = wire.wait_advert(new, SETTLE, after=after)
    gap = first.timestamp - wire.last_before(old, first.timestamp).timestamp
    timer = down_interval(LOW, INTERVAL)
    assert timer - EARLY <= gap <= timer + SLACK, f"gap {gap:.3f} s, timer {timer:.3f} s"
    return gap


def assert_fast_takeover(wire: VrrpWire, old: str, new: str, after: float) -> float:
    """``old`` left with priority 0; ``new`` took over after its Skew_Time, not its timer."""
    zero = wire.wait_advert(old, SETTLE, after=after, priority=0)
    first = wire.wait_advert(new, SETTLE, after=zero.timestamp)
    gap = first.timestamp - zero.timestamp
    assert gap <= skew(LOW, INTERVAL) + SLACK < down_interval(LOW, INTERVAL), f"gap {gap:.3f} s"
    return gap


@FAMILIES
def test_keepalived_active_pycarp_backup(lab: Lab, tmp_path: pathlib.Path, family: int) -> None:
    address = VIRTUAL[family]
    theirs, ours = source_of(lab, "h1", family), source_of(lab, "h2", family)
    with VrrpWire(lab, tmp_path / "wire.pcap") as wire:
        active = start_keepalived(
            lab, "h1", tmp_path, family=family, priority=HIGH, interval=INTERVAL
        )
        checks.wait_for_state(active, "MASTER", timeout=SETTLE)
        pycarp = start_pycarp_vrrp(
            lab, "h2", tmp_path, family=family, priority=LOW, interval=INTERVAL
        )
        checks.wait_for_state(pycarp, "BACKUP", timeout=SETTLE)
        assert_quiet([active, pycarp], seconds=10 * INTERVAL)
        assert checks.holders(lab, address) == ["h1"]

        killed = time.time()
        active.kill()  # a crash: its address stays on h1
        assert_timer_takeover(wire, theirs, ours, killed)
        checks.wait_for_state(pycarp, "MASTER", timeout=SETTLE)
        assert checks.holds(lab, "h2", address)

        back = start_keepalived(
            lab, "h1", tmp_path, family=family, priority=HIGH, interval=INTERVAL, tag="-back"
        )
        checks.wait_for_state(back, "MASTER", timeout=SETTLE)
        checks.wait_for_state(pycarp, "BACKUP", timeout=SETTLE)
        checks.wait_holders(lab, ["h1"], SETTLE, address)

        stopped = time.time()
        assert back.stop() == 0
        assert_fast_takeover(wire, theirs, ours, stopped)
        checks.wait_for_state(pycarp, "MASTER", timeout=SETTLE)
        checks.wait_holders(lab, ["h2"], SETTLE, address)
    assert pycarp.states() == ["BACKUP", "MASTER", "BACKUP", "MASTER"]
    assert back.states()[-1] == "STOP"


@FAMILIES
def test_pycarp_active_keepalived_backup(lab: Lab, tmp_path: pathlib.Path, family: int) -> None:
    address = VIRTUAL[family]
    ours, theirs = source_of(lab, "h1", family), source_of(lab, "h2", family)
    with VrrpWire(lab, tmp_path / "wire.pcap") as wire:
        pycarp = start_pycarp_vrrp(
            lab, "h1", tmp_path, family=family, priority=HIGH, interval=INTERVAL
        )
        checks.wait_for_state(pycarp, "MASTER", timeout=SETTLE)
        backup = start_keepalived(
            lab, "h2", tmp_path, family=family, priority=LOW, interval=INTERVAL
        )
        checks.wait_for_state(backup, "BACKUP", timeout=SETTLE)
        assert_quiet([pycarp, backup], seconds=10 * INTERVAL)
        assert checks.holders(lab, address) == ["h1"]

        killed = time.time()
        pycarp.kill()  # a crash: its address stays on h1
        assert_timer_takeover(wire, ours, theirs, killed)
        checks.wait_for_state(backup, "MASTER", timeout=SETTLE)
        assert checks.holds(lab, "h2", address)

        back = start_pycarp_vrrp(
            lab, "h1", tmp_path, family=family, priority=HIGH, interval=INTERVAL, tag="-back"
        )
        checks.wait_for_state(back, "MASTER", timeout=SETTLE)
        checks.wait_for_state(backup, "BACKUP", timeout=SETTLE)
        checks.wait_holders(lab, ["h1"], SETTLE, address)

        stopped = time.time()
        assert back.stop() == 0
        assert_fast_takeover(wire, ours, theirs, stopped)
        checks.wait_for_state(backup, "MASTER", timeout=SETTLE)
        checks.wait_holders(lab, ["h2"], SETTLE, address)
    # It preempted keepalived's lower priority, then left (INIT: stopped).
    assert back.states() == ["BACKUP", "MASTER", "INIT"]
    assert backup.states() == ["BACKUP", "MASTER", "BACKUP", "MASTER"]


@FAMILIES
@pytest.mark.parametrize("pycarp_node", ["h2", "h1"], ids=["pycarp-wins", "keepalived-wins"])
def test_equal_priority_the_higher_primary_address_wins(
    lab: Lab, tmp_path: pathlib.Path, family: int, pycarp_node: str
) -> None:
    """Both become active apart (a partition), then meet: h2's address is the higher one."""
    keepalived_node = "h1" if pycarp_node == "h2" else "h2"
    lab.partition(["h1"], ["h2"])
    daemons: dict[str, Daemon] = {
        pycarp_node: start_pycarp_vrrp(
            lab, pycarp_node, tmp_path, family=family, priority=LOW, interval=0.1
        ),
        keepalived_node: start_keepalived(
            lab, keepalived_node, tmp_path, family=family, priority=LOW, interval=0.1
        ),
    }
    for daemon in daemons.values():
        checks.wait_for_state(daemon, "MASTER", timeout=SETTLE)
    assert source_of(lab, "h2", family) > source_of(lab, "h1", family)  # as numbers, too
    lab.reconnect()
    checks.wait_for_state(daemons["h1"], "BACKUP", timeout=SETTLE)
    checks.wait_holders(lab, ["h2"], SETTLE, VIRTUAL[family])
    assert_quiet(list(daemons.values()), seconds=1.0)
    assert daemons["h2"].states()[-1] == "MASTER"
    assert "BACKUP" not in daemons["h2"].states()[1:]
    if isinstance(daemons["h1"], keepalived.Keepalived):
        assert daemons["h1"].transitions()[-1][1:] == ("BACKUP", LOW)


@pytest.mark.parametrize("calm", ["pycarp", "keepalived"])
def test_without_preempt_a_higher_priority_router_stays_backup(
    lab: Lab, tmp_path: pathlib.Path, calm: str
) -> None:
    """pycarp ``--no-preempt`` / keepalived ``nopreempt``: back at a higher priority, it
    follows the active router with the lower one instead of taking the group back."""
    if calm == "pycarp":
        active: Daemon = start_keepalived(lab, "h1", tmp_path, family=4, priority=LOW, interval=0.1)
    else:
        active = start_pycarp_vrrp(lab, "h1", tmp_path, family=4, priority=LOW, interval=0.1)
    checks.wait_for_state(active, "MASTER", timeout=SETTLE)
    if calm == "pycarp":
        higher: Daemon = start_pycarp_vrrp(
            lab, "h2", tmp_path, family=4, priority=HIGH, interval=0.1, extra=["--no-preempt"]
        )
    else:
        higher = start_keepalived(
            lab, "h2", tmp_path, family=4, priority=HIGH, interval=0.1, preempt=False
        )
    checks.wait_for_state(higher, "BACKUP", timeout=SETTLE)
    assert_quiet([active, higher], seconds=1.5)
    assert higher.states() == ["BACKUP"]
    assert checks.holders(lab, VIRTUAL[4]) == ["h1"]
