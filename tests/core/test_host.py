"""The Host above the group machines: demux, drops of no group, the feed loop, demotion sources.

Pure and in milliseconds: the Host's two callbacks are a recorder here, time is a number.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import random

import pytest

from pycarp.core import events as ev
from pycarp.core import wire
from pycarp.core.actions import (
    Action,
    ClaimAddresses,
    Hook,
    ReleaseAddresses,
    RunHook,
    SendAdvertisement,
    StateChanged,
)
from pycarp.core.host import OPERATOR_DEMOTION_LIMIT, GroupKey, Host
from pycarp.core.settings import GroupSettings
from pycarp.core.stats import REPORT_WINDOW, DropReason
from pycarp.core.table import State
from pycarp.core.timing import master_down_interval

from .support import LOWER_PEER, group_settings, signed_advert

OTHER_PEER = ipaddress.IPv4Address("198.51.100.50")
ETH0_1: GroupKey = ("eth0", 1)
ETH0_2: GroupKey = ("eth0", 2)
ETH1_1: GroupKey = ("eth1", 1)


class Recorder:
    """The Host's callbacks: every action and every re-arm, in order; sends answer ``send_ok``."""

    def __init__(self) -> None:
        self.done: list[tuple[GroupKey, Action]] = []
        self.rearms: list[tuple[GroupKey, float | None]] = []
        self.send_ok = True

    def execute(self, key: GroupKey, action: Action) -> ev.Event | None:
        self.done.append((key, action))
        if isinstance(action, SendAdvertisement):
            return ev.SendCompleted(ok=self.send_ok)
        return None

    def rearm(self, key: GroupKey, deadline: float | None) -> None:
        self.rearms.append((key, deadline))

    def sent(self, key: GroupKey) -> list[SendAdvertisement]:
        return [a for k, a in self.done if k == key and isinstance(a, SendAdvertisement)]

    def of(self, key: GroupKey) -> list[Action]:
        return [a for k, a in self.done if k == key]

    def clear(self) -> None:
        self.done.clear()
        self.rearms.clear()


def settings(vhid: int, advskew: int = 0, **overrides: object) -> GroupSettings:
    return group_settings(vhid=vhid, advskew=advskew, **overrides)


def new_host(*groups: tuple[str, GroupSettings], now: float = 0.0) -> tuple[Host, Recorder]:
    recorder = Recorder()
    host = Host(random.Random(7), recorder.execute, recorder.rearm)
    for interface, group in groups:
        host.add(interface, group, now)
    return host, recorder


def fire(host: Host, key: GroupKey) -> float:
    """Fire the group's timer at its deadline; returns that time."""
    deadline = host.machine(key).next_deadline
    assert deadline is not None
    host.timer(key, deadline)
    return deadline


def make_master(host: Host, key: GroupKey) -> float:
    fire(host, key)
    assert host.machine(key).state is State.MASTER
    return host.machine(key).next_deadline or 0.0


def wire_advskew(advert: SendAdvertisement) -> int:
    """What a peer reads: the advskew decoded from the payload, not the action's field."""
    return wire.decode(advert.payload).advskew


# -- demux -------------------------------------------------------------------------------------


def test_a_packet_goes_to_the_group_of_its_interface_and_vhid_only() -> None:
    host, _ = new_host(("eth0", settings(1)), ("eth1", settings(1)), ("eth0", settings(2)))
    advert = signed_advert(settings(1), advskew=100)
    assert host.receive("eth1", advert, LOWER_PEER, 255, 1.0) is None
    received = {key: host.machine(key).adverts_received for key in host}
    assert received == {ETH0_1: 0, ETH1_1: 1, ETH0_2: 0}
    assert host.machine(ETH1_1).last_master == LOWER_PEER
    assert host.interface_drops["eth0"].total == host.interface_drops["eth1"].total == 0


def test_a_backup_times_the_master_from_when_its_advert_arrived() -> None:
    """The caller says when the packet reached the host (the kernel's stamp): the master-down
    timer runs from then, not from when the packet was read; the group's clock still never
    goes back, so an arrival before the last event it saw counts as that event's time."""
    ours = settings(1, advskew=100)
    host, recorder = new_host(("eth0", ours))
    down = master_down_interval(1, 100)
    advert = signed_advert(ours, advskew=0)
    host.receive("eth0", advert, LOWER_PEER, 255, 2.0, arrived=1.9997)
    assert host.machine(ETH0_1).state is State.BACKUP
    assert recorder.rearms[-1] == (ETH0_1, 1.9997 + down)
    host.receive("eth0", signed_advert(ours, advskew=0, counter=1001), LOWER_PEER, 255, 3.0)
    assert recorder.rearms[-1] == (ETH0_1, 3.0 + down)  # no arrival given: now
    host.demote("+", 1, 3.5)  # an event at 3.5 (advskew 101 now); the next packet arrived
    host.receive("eth0", signed_advert(ours, counter=1002), LOWER_PEER, 255, 3.6, arrived=3.4)
    assert host.machine(ETH0_1).last_now == 3.5
    assert recorder.rearms[-1] == (ETH0_1, 3.5 + master_down_interval(1, 101))


def test_an_unknown_vhid_is_counted_per_interface_and_reported_once_per_sender() -> None:
    host, recorder = new_host(("eth0", settings(1)), ("eth1", settings(1)))
    recorder.clear()
    stray = signed_advert(settings(9))
    drops = [host.receive("eth0", stray, LOWER_PEER, 255, 1.0 + i) for i in range(5)]
    assert all(d is not None and d.reason is DropReason.BAD_VHID for d in drops)
    assert [d.report for d in drops if d is not None] == [True, False, False, False, False]
    first = drops[0]
    assert first is not None
    assert "vhid 9" in first.detail
    assert str(LOWER_PEER) in first.detail
    other = host.receive("eth0", stray, OTHER_PEER, 255, 7.0)
    assert other is not None
    assert other.report  # another sender is news
    later = host.receive("eth0", stray, LOWER_PEER, 255, 1.0 + REPORT_WINDOW)
    assert later is not None
    assert later.report  # a new window: said again
    assert host.interface_drops["eth0"][DropReason.BAD_VHID] == 7
    assert host.interface_drops["eth1"].total == 0
    assert all(host.machine(key).stats.total == 0 for key in host)  # no group saw it
    assert recorder.done == []
    assert recorder.rearms == []


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (bytes([0x21, 9, 0]), DropReason.TOO_SHORT),
        (signed_advert(settings(9))[:-1] + b"\x00", DropReason.BAD_CHECKSUM),
        (b"", DropReason.TOO_SHORT),
    ],
)
def test_a_malformed_packet_for_no_group_is_counted_with_its_decode_reason(
    payload: bytes, reason: DropReason
) -> None:
    host, _ = new_host(("eth0", settings(1)))
    drop = host.receive("eth0", payload, LOWER_PEER, 255, 1.0)
    assert drop is not None
    assert (drop.reason, drop.report) == (reason, True)
    assert host.interface_drops["eth0"][reason] == 1
    assert host.interface_drops["eth0"][DropReason.BAD_VHID] == 0


def test_a_packet_on_an_interface_without_groups_is_counted_there() -> None:
    host, _ = new_host(("eth0", settings(1)))
    assert host.receive("eth9", signed_advert(settings(1)), LOWER_PEER, 255, 1.0) is not None
    assert host.interface_drops["eth9"][DropReason.BAD_VHID] == 1
    assert host.interface_drops["eth0"].total == 0


# -- the feed loop -------------------------------------------------------------------------------


def test_rearm_is_called_only_when_the_deadline_moves() -> None:
    host, recorder = new_host(("eth0", settings(1, advskew=10)))
    assert recorder.rearms == [(ETH0_1, master_down_interval(1, 10))]
    recorder.clear()
    forged = signed_advert(settings(1, passphrase=b"wrong"), advskew=5)
    for i in range(1000):
        assert host.receive("eth0", forged, LOWER_PEER, 255, 0.001 * i) is None  # the group's
        assert host.receive("eth0", signed_advert(settings(3)), LOWER_PEER, 255, 0.001 * i)
    assert host.machine(ETH0_1).stats[DropReason.BAD_AUTH] == 1000
    assert recorder.rearms == []
    host.receive("eth0", signed_advert(settings(1), advskew=5), LOWER_PEER, 255, 2.0)
    assert recorder.rearms == [(ETH0_1, 2.0 + master_down_interval(1, 10))]


def test_a_fired_timer_is_always_rearmed_even_when_nothing_was_due() -> None:
    """The caller's timer is spent once it fires: an early wake-up must get a new one."""
    host, recorder = new_host(("eth0", settings(1)))
    recorder.clear()
    host.timer(ETH0_1, 1.0)  # before the deadline (3.0): nothing happens...
    assert host.machine(ETH0_1).state is State.BACKUP
    assert recorder.rearms == [(ETH0_1, 3.0)]  # ...but the timer is armed again
    host.timer(("eth0", 42), 1.5)  # a group that is gone: nothing at all
    assert recorder.rearms == [(ETH0_1, 3.0)]


def test_send_results_are_fed_back_and_three_failures_demote() -> None:
    host, recorder = new_host(("eth0", settings(1, advskew=10)), ("eth0", settings(2)))
    recorder.send_ok = False
    make_master(host, ETH0_1)
    fire(host, ETH0_1)
    assert host.sources(ETH0_1).send_errors == 0  # two failures: not yet
    fire(host, ETH0_1)
    assert host.sources(ETH0_1).send_errors == 240
    assert host.sources(ETH0_2).send_errors == 0  # the group's own, not host-wide
    fire(host, ETH0_1)
    assert wire_advskew(recorder.sent(ETH0_1)[-1]) == 240
    recorder.send_ok = True
    for _ in range(3):
        fire(host, ETH0_1)
    assert host.sources(ETH0_1).send_errors == 0
    fire(host, ETH0_1)
    assert wire_advskew(recorder.sent(ETH0_1)[-1]) == 10


# -- carrier -------------------------------------------------------------------------------------


def test_carrier_loss_sends_its_groups_to_init_and_demotes_the_others_until_it_is_back() -> None:
    host, recorder = new_host(("eth0", settings(1, advskew=10)), ("eth1", settings(1, advskew=20)))
    make_master(host, ETH0_1)
    deadline = make_master(host, ETH1_1)
    assert host.link_changed("eth0", False, 4.0)
    assert host.machine(ETH0_1).state is State.INIT
    assert host.sources(ETH1_1).carrier == 240
    assert host.machine(ETH1_1).advskew_on_wire == 240
    host.timer(ETH1_1, deadline)
    assert wire_advskew(recorder.sent(ETH1_1)[-1]) == 240
    assert not host.link_changed("eth0", False, 5.0)  # known already: nothing to do
    recorder.clear()
    assert host.link_changed("eth0", True, 6.0)
    assert host.sources(ETH1_1).carrier == host.sources(ETH0_1).carrier == 0
    assert host.machine(ETH1_1).advskew_on_wire == 20
    rejoined = host.machine(ETH0_1)
    assert rejoined.state is State.BACKUP
    # restored before the rejoin: the master-down timer runs with advskew 10, not 240
    assert rejoined.next_deadline == 6.0 + master_down_interval(1, 10)
    assert (ETH0_1, 6.0 + master_down_interval(1, 10)) in recorder.rearms


def test_groups_that_ignore_carrier_neither_follow_it_nor_demote_for_it() -> None:
    host, _ = new_host(("eth0", settings(1)))
    host.add("eth1", settings(2), 0.0, ignore_ifstate=True)
    assert not host.watches_carrier("eth1")
    assert not host.link_changed("eth1", False, 1.0)
    assert host.machine(("eth1", 2)).state is State.BACKUP
    assert host.carrier_demotion() == 0
    assert host.link_changed("eth0", False, 2.0)
    assert host.sources(("eth1", 2)).carrier == 240  # eth0 is a CARP interface without carrier


def test_a_group_added_without_carrier_waits_in_init_and_demotes_the_others() -> None:
    host, _ = new_host(("eth0", settings(1)))
    host.add("eth1", settings(2), 1.0, link_up=False)
    assert host.machine(("eth1", 2)).state is State.INIT
    assert host.machine(ETH0_1).advskew_on_wire == 240
    host.link_changed("eth1", True, 2.0)
    assert host.machine(("eth1", 2)).state is State.BACKUP
    assert host.machine(ETH0_1).advskew_on_wire == 0


# -- operator demotion ---------------------------------------------------------------------------


def test_operator_demotion_host_wide_and_per_group_reported_by_source() -> None:
    host, _ = new_host(("eth0", settings(1, advskew=10)), ("eth0", settings(2, advskew=20)))
    assert host.demote("+", 50, 1.0) == 50
    assert host.demote("-", 20, 1.0) == 30
    assert [host.machine(k).advskew_on_wire for k in (ETH0_1, ETH0_2)] == [40, 50]
    assert host.demote("+", 7, 1.0, ETH0_2) == 7
    assert host.demote("=", 5, 1.0) == 5
    assert dataclasses.asdict(host.sources(ETH0_1)) == {
        "carrier": 0,
        "send_errors": 0,
        "operator": 5,
        "group_operator": 0,
        "maintenance": 0,
        "tracks": 0,
    }
    assert host.sources(ETH0_2).operator == 5
    assert host.sources(ETH0_2).group_operator == 7
    assert host.sources(ETH0_2).total == 12
    assert [host.machine(k).advskew_on_wire for k in (ETH0_1, ETH0_2)] == [15, 32]
    host.demote("=", 0, 1.0)
    host.demote("-", 7, 1.0, ETH0_2)
    assert [host.machine(k).advskew_on_wire for k in (ETH0_1, ETH0_2)] == [10, 20]


def test_operator_counters_are_clamped_and_the_wire_stays_within_0_and_240() -> None:
    host, recorder = new_host(("eth0", settings(1, advskew=10)), ("eth0", settings(2, advskew=250)))
    make_master(host, ETH0_1)
    make_master(host, ETH0_2)
    assert host.demote("+", 3 * OPERATOR_DEMOTION_LIMIT, 4.0) == OPERATOR_DEMOTION_LIMIT
    assert host.demote("+", 1, 4.0) == OPERATOR_DEMOTION_LIMIT
    fire(host, ETH0_1)
    fire(host, ETH0_2)
    assert wire_advskew(recorder.sent(ETH0_1)[-1]) == 240
    assert wire_advskew(recorder.sent(ETH0_2)[-1]) == 250  # configured above 240: never lower
    assert host.demote("=", -5 * OPERATOR_DEMOTION_LIMIT, 6.0) == -OPERATOR_DEMOTION_LIMIT
    assert host.demote("-", 1, 6.0, ETH0_1) == -1
    fire(host, ETH0_1)
    fire(host, ETH0_2)
    assert wire_advskew(recorder.sent(ETH0_1)[-1]) == 0
    assert wire_advskew(recorder.sent(ETH0_2)[-1]) == 0
    host.demote("=", 0, 9.0)
    host.demote("=", 0, 9.0, ETH0_1)
    assert [host.machine(k).advskew_on_wire for k in (ETH0_1, ETH0_2)] == [10, 250]


# -- maintenance and hand-over -------------------------------------------------------------------


def test_maintenance_hands_every_master_over_with_one_bow_out() -> None:
    host, recorder = new_host(("eth0", settings(1, advskew=10)), ("eth1", settings(2)))
    make_master(host, ETH0_1)  # eth1/2 stays a backup
    recorder.clear()
    host.set_maintenance(True, 3.5, "maintenance mode (test)")
    bow_outs = recorder.sent(ETH0_1)
    assert len(bow_outs) == 1
    adv = wire.decode(bow_outs[0].payload)
    assert (adv.advbase, adv.advskew, bow_outs[0].bow_out) == (255, 255, True)
    assert recorder.sent(("eth1", 2)) == []
    actions = recorder.of(ETH0_1)
    changes = [a for a in actions if isinstance(a, StateChanged)]
    assert [(c.old, c.new, c.reason) for c in changes] == [
        (State.MASTER, State.BACKUP, "maintenance mode (test)")
    ]
    assert ReleaseAddresses() in actions
    assert RunHook(hook=Hook.DOWN) in actions
    assert not any(isinstance(a, ClaimAddresses) for a in actions)
    for key in host:
        assert host.machine(key).advskew_on_wire == 240
        assert host.sources(key).maintenance == 240
    # alone, it stays the last resort: its master-down timer (with advskew 240) still runs
    assert host.machine(ETH0_1).next_deadline == 3.5 + master_down_interval(1, 240)
    recorder.clear()
    host.set_maintenance(True, 3.6)  # on again: nobody is master, nothing is sent
    assert recorder.done == []
    fire(host, ETH0_1)  # nobody took over: it is master again, and says 240 on the wire
    assert host.machine(ETH0_1).state is State.MASTER
    assert [wire_advskew(a) for a in recorder.sent(ETH0_1)] == [240]


def test_maintenance_off_leaves_no_demotion_from_any_source() -> None:
    host, _ = new_host(("eth0", settings(1, advskew=10)), ("eth1", settings(2, advskew=30)))
    host.set_maintenance(True, 1.0)
    host.set_maintenance(True, 1.1)  # a flag, not a counter: one "off" undoes any number
    host.link_changed("eth0", False, 2.0)
    host.demote("+", 70, 2.5)
    host.demote("+", 9, 2.6, ("eth1", 2))
    host.link_changed("eth0", True, 3.0)
    host.demote("-", 70, 3.5)
    host.demote("=", 0, 3.6, ("eth1", 2))
    assert host.machine(ETH0_1).advskew_on_wire == 240  # still in maintenance
    host.set_maintenance(False, 4.0)
    for key, advskew in ((ETH0_1, 10), (("eth1", 2), 30)):
        sources = host.sources(key)
        assert sources.total == 0, sources
        assert host.machine(key).demotion == 0
        assert host.machine(key).advskew_on_wire == advskew
    assert not host.maintenance


def test_hand_over_bows_out_of_masters_only_and_keeps_the_demotion() -> None:
    host, recorder = new_host(("eth0", settings(1)), ("eth0", settings(2, advskew=40)))
    make_master(host, ETH0_1)
    recorder.clear()
    assert host.hand_over(4.0, "SIGUSR2") == [ETH0_1]
    assert [wire_advskew(a) for a in recorder.sent(ETH0_1)] == [255]
    assert recorder.sent(ETH0_2) == []
    assert host.machine(ETH0_1).state is State.BACKUP
    assert host.machine(ETH0_1).advskew_on_wire == 0  # a hand-over demotes nothing
    assert host.hand_over(4.5, "SIGUSR2") == []


def test_force_goes_through_the_machine() -> None:
    host, _ = new_host(("eth0", settings(1)))
    host.force(ETH0_1, ev.ForcedState.MASTER, 1.0)
    assert host.machine(ETH0_1).state is State.MASTER
    host.force(ETH0_1, ev.ForcedState.BACKUP, 2.0)
    assert host.machine(ETH0_1).state is State.BACKUP


# -- groups come and go --------------------------------------------------------------------------


def test_adding_a_group_twice_is_refused_and_other_interfaces_may_reuse_the_vhid() -> None:
    host, _ = new_host(("eth0", settings(1)))
    with pytest.raises(ValueError, match="runs already"):
        host.add("eth0", settings(1), 1.0)
    assert host.add("eth1", settings(1), 1.0) == ETH1_1
    assert list(host) == [ETH0_1, ETH1_1]


def test_a_group_added_later_gets_the_demotion_in_force_before_it_starts() -> None:
    host, recorder = new_host(("eth0", settings(1)))
    host.demote("=", 30, 1.0)
    host.add("eth0", settings(2, advskew=5), 2.0)
    assert host.machine(ETH0_2).advskew_on_wire == 35
    assert (ETH0_2, 2.0 + master_down_interval(1, 35)) in recorder.rearms


def test_removing_a_master_bows_out_releases_and_disarms() -> None:
    host, recorder = new_host(("eth0", settings(1)), ("eth0", settings(2, advskew=50)))
    make_master(host, ETH0_1)
    recorder.clear()
    host.remove(ETH0_1, 3.5)
    assert [wire_advskew(a) for a in recorder.sent(ETH0_1)] == [255]
    actions = recorder.of(ETH0_1)
    assert ReleaseAddresses() in actions
    assert RunHook(hook=Hook.DOWN) in actions
    assert recorder.rearms == [(ETH0_1, None)]
    assert list(host) == [ETH0_2]
    recorder.clear()
    host.remove(ETH0_2, 4.0)  # a backup leaves without a word
    assert recorder.sent(ETH0_2) == []
    assert list(host) == []


def test_removing_the_last_group_of_a_carrierless_interface_lifts_its_demotion() -> None:
    host, _ = new_host(("eth0", settings(1)), ("eth1", settings(2)))
    host.link_changed("eth1", False, 1.0)
    assert host.machine(ETH0_1).advskew_on_wire == 240
    host.remove(("eth1", 2), 2.0)
    assert host.machine(ETH0_1).advskew_on_wire == 0
