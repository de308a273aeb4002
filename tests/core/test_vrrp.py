"""VRRPv3 groups in the core: RFC 9568's timing and election, run by the same machine as CARP.

Single machines are fed hand-built adverts; where a peer matters it is another real machine on
the :class:`~tests.core.support.Segment`. Times are exact: the core has no clock of its own.
"""

from __future__ import annotations

import ipaddress
import random
from typing import Any

import pytest

from pycarp.core import events as ev
from pycarp.core import vrrpwire
from pycarp.core.actions import (
    AddressListMismatch,
    Announce,
    ClaimAddresses,
    PacketDropped,
    SendAdvertisement,
    StateChanged,
)
from pycarp.core.host import Host
from pycarp.core.machine import GroupMachine
from pycarp.core.settings import GroupSettings, Protocol, SettingsError
from pycarp.core.stats import DropReason
from pycarp.core.table import TRANSITIONS, Input, State, Step, Transition
from pycarp.core.vrrp import VRRP_TRANSITIONS, down_interval, skew_time, wire_priority
from pycarp.core.vrrpwire import ChecksumMode, VrrpAdvertisement

from .support import HIGHER_PEER, LOWER_PEER, OUR_SOURCE, VIRTUAL, Segment, kinds, received, sent

OTHER_VIRTUAL = ipaddress.IPv4Address("198.51.100.200")


def vrrp_settings(**overrides: Any) -> GroupSettings:
    values: dict[str, Any] = {
        "vhid": 7,
        "passphrase": b"",
        "addresses": (VIRTUAL,),
        "source": OUR_SOURCE,
        "protocol": Protocol.VRRP3,
        "priority": 100,
        "interval": 1.0,
        "preempt": True,
    }
    if "interval_cs" in overrides:  # the tests speak VRRPv3's unit
        overrides["interval"] = overrides.pop("interval_cs") / 100
    values.update(overrides)
    return GroupSettings(**values)


def machine(**overrides: Any) -> GroupMachine:
    return GroupMachine(vrrp_settings(**overrides), random.Random(1))


def advert(
    priority: int,
    *,
    interval_cs: int = 100,
    source: Any = LOWER_PEER,
    addresses: tuple[Any, ...] = (VIRTUAL,),
    vrid: int = 7,
    mode: ChecksumMode = ChecksumMode.PSEUDO_HEADER,
    ttl: int = 255,
) -> ev.PacketReceived:
    adv = VrrpAdvertisement(
        vrid=vrid, priority=priority, interval_cs=interval_cs, addresses=addresses
    )
    payload = vrrpwire.encode(adv, source, vrrpwire.group_address(source), mode)
    return received(payload, source, ttl)


def backup(m: GroupMachine, now: float = 0.0) -> GroupMachine:
    m.handle(ev.Started(), now)
    assert m.state is State.BACKUP
    return m


def master(m: GroupMachine) -> GroupMachine:
    backup(m)
    assert m.next_deadline is not None
    m.handle(ev.TimerExpired(), m.next_deadline)
    assert m.state is State.MASTER
    return m


def decoded(action: SendAdvertisement) -> VrrpAdvertisement:
    return vrrpwire.decode(action.payload, OUR_SOURCE)


# -- timing -----------------------------------------------------------------------------------


def test_rfc_9568_skew_and_down_interval() -> None:
    assert skew_time(100, 100) == pytest.approx(156 / 256)
    assert down_interval(100, 100) == pytest.approx(3 + 156 / 256)
    assert down_interval(200, 10) == pytest.approx(0.3 + 56 / 256 * 0.1)
    assert skew_time(255, 4095) == pytest.approx(40.95 / 256)


def test_demotion_lowers_the_priority_sent_never_below_1_and_only_the_owner_sends_255() -> None:
    assert wire_priority(100, 0) == 100
    assert wire_priority(100, 40) == 60
    assert wire_priority(100, 240) == 1  # maintenance mode
    assert wire_priority(100, -500) == 254
    assert wire_priority(255, 0) == 255
    assert wire_priority(255, -5) == 255
    assert wire_priority(255, 10) == 245


def test_a_backup_waits_its_own_down_interval_at_start_and_the_owner_takes_over_at_once() -> None:
    m = backup(machine(priority=200, interval_cs=10))
    assert m.next_deadline == pytest.approx(down_interval(200, 10))
    owner = machine(priority=255)
    actions = owner.handle(ev.Started(), 5.0)
    assert owner.state is State.MASTER
    assert decoded(sent(actions)[0]).priority == 255


def test_the_backup_learns_the_active_routers_interval_from_its_adverts() -> None:
    m = backup(machine(priority=100, interval_cs=100))
    m.handle(advert(200, interval_cs=50), 1.0)
    assert m.next_deadline == pytest.approx(1.0 + down_interval(100, 50))
    m.handle(advert(0, interval_cs=50), 2.0)  # priority 0: take over after our skew
    deadline = m.next_deadline
    assert deadline == pytest.approx(2.0 + skew_time(100, 50))
    actions = m.handle(ev.TimerExpired(), deadline or 0.0)
    assert m.state is State.MASTER
    assert decoded(sent(actions)[0]).interval_cs == 100  # we advertise our own interval


# -- election ---------------------------------------------------------------------------------


def test_a_master_answers_a_lower_priority_at_once_and_steps_down_silently_for_a_higher() -> None:
    m = master(machine())
    actions = m.handle(advert(50), 10.0)
    assert kinds(actions) == [SendAdvertisement, Announce]
    assert m.state is State.MASTER
    assert m.next_deadline == pytest.approx(11.0)
    actions = m.handle(advert(150), 10.5)
    assert m.state.value == "BACKUP"
    assert sent(actions) == []  # RFC 9568: no last word
    assert m.next_deadline == pytest.approx(10.5 + down_interval(100, 100))


@pytest.mark.parametrize(
    ("peer", "steps_down"), [(HIGHER_PEER, True), (LOWER_PEER, False)], ids=["higher", "lower"]
)
def test_equal_priorities_are_won_by_the_higher_primary_address(
    peer: Any, steps_down: bool
) -> None:
    m = master(machine())
    actions = m.handle(advert(100, source=peer), 10.0)
    assert (m.state is State.BACKUP) is steps_down
    assert bool(sent(actions)) is not steps_down


def test_a_master_hearing_priority_0_advertises_at_once() -> None:
    m = master(machine())
    actions = m.handle(advert(0), 10.25)
    assert kinds(actions) == [SendAdvertisement]
    assert m.next_deadline == pytest.approx(11.25)


def test_preempt_discards_lower_priority_adverts_so_the_timer_runs_out() -> None:
    m = backup(machine(priority=150))
    deadline = m.next_deadline or 0.0
    assert m.handle(advert(100), 1.0) == []
    assert m.next_deadline == deadline  # discarded, not restarted
    assert m.handle(ev.TimerExpired(), deadline)[0] == StateChanged(
        old=State.BACKUP, new=State.MASTER, reason="master-down timer expired"
    )


def test_without_preempt_a_lower_priority_master_restarts_the_timer() -> None:
    m = backup(machine(priority=150, preempt=False))
    m.handle(advert(100), 1.0)
    assert m.next_deadline == pytest.approx(1.0 + down_interval(150, 100))


def test_preempt_delay_counts_from_the_start() -> None:
    m = backup(machine(priority=150, preempt_delay=5.0), now=10.0)
    m.handle(advert(100), 14.0)  # within the delay: as without preempt
    assert m.next_deadline == pytest.approx(14.0 + down_interval(150, 100))
    m.handle(advert(100), 15.0)  # the delay has passed: discarded
    assert m.next_deadline == pytest.approx(14.0 + down_interval(150, 100))


def test_shutdown_and_hand_over_send_priority_0() -> None:
    m = master(machine())
    actions = m.handle(ev.ShutdownRequested(), 13.0)
    assert [decoded(a).priority for a in sent(actions)] == [0]
    assert m.state is State.INIT
    m = master(machine())
    actions = m.handle(ev.HandOverRequested(reason="maintenance"), 13.0)
    assert [decoded(a).priority for a in sent(actions)] == [0]
    assert m.state is State.BACKUP


def test_demotion_is_sent_as_a_lower_priority() -> None:
    m = master(machine())
    m.handle(ev.DemotionChanged(demotion=240), 4.0)
    actions = m.handle(ev.TimerExpired(), m.next_deadline or 0.0)
    assert [decoded(a).priority for a in sent(actions)] == [1]


# -- receive ----------------------------------------------------------------------------------


def test_an_address_list_mismatch_is_said_once_per_sender_counted_and_not_dropped() -> None:
    m = backup(machine())
    other = advert(200, addresses=(OTHER_VIRTUAL,))
    first = m.handle(other, 1.0)
    assert first == [
        AddressListMismatch(source=LOWER_PEER, theirs=(OTHER_VIRTUAL,), ours=(VIRTUAL,))
    ]
    assert m.next_deadline == pytest.approx(1.0 + down_interval(100, 100))  # accepted
    assert m.handle(other, 2.0) == []
    assert m.vrrp is not None
    assert m.vrrp.address_mismatches == 2
    assert m.stats.total == 0
    assert m.handle(advert(200), 3.0) == []  # the same set again: nothing to say


@pytest.mark.parametrize(
    ("packet", "reason"),
    [
        (advert(200, ttl=254), DropReason.BAD_TTL),
        (advert(200, vrid=8), DropReason.BAD_VHID),
        (advert(200, source=OUR_SOURCE), DropReason.OWN_PACKET),
        (advert(200, mode=ChecksumMode.RFC9568), DropReason.BAD_CHECKSUM),
        (received(b"\x21\x07" + bytes(34)), DropReason.BAD_VERSION),  # a CARP-looking packet
        (advert(200, interval_cs=0), DropReason.BAD_INTERVAL),
    ],
    ids=["ttl", "vrid", "own", "checksum-form", "carp", "interval-0"],
)
def test_invalid_packets_are_counted_drops(packet: ev.PacketReceived, reason: DropReason) -> None:
    m = backup(machine())
    deadline = m.next_deadline
    actions = m.handle(packet, 1.0)
    assert kinds(actions) == [PacketDropped]
    assert m.stats[reason] == 1
    assert m.next_deadline == deadline


def test_the_rfc9568_checksum_setting_accepts_that_form_only() -> None:
    m = backup(machine(vrrp_checksum=ChecksumMode.RFC9568))
    assert m.handle(advert(200, mode=ChecksumMode.RFC9568), 1.0) == []
    assert m.adverts_received == 1
    actions = m.handle(advert(200), 1.5)
    assert kinds(actions) == [PacketDropped]


# -- the table and two real machines ----------------------------------------------------------


def test_vrrp_changes_four_cells_of_the_table_and_nothing_else() -> None:
    changed = {pair for pair, cell in VRRP_TRANSITIONS.items() if TRANSITIONS[pair] != cell}
    assert changed == {
        (State.MASTER, Input.ADV_FASTER),
        (State.MASTER, Input.ADV_EQUAL_PEER_WINS),
        (State.MASTER, Input.ADV_DEPARTING),
        (State.BACKUP, Input.ADV_SLOWER_PREEMPT),
    }
    assert VRRP_TRANSITIONS[(State.BACKUP, Input.ADV_SLOWER_PREEMPT)] == Transition(
        State.BACKUP, Step.IGNORE
    )
    assert set(VRRP_TRANSITIONS) == set(TRANSITIONS)


def test_two_machines_elect_by_priority_fail_over_and_hand_over_with_priority_0() -> None:
    segment = Segment()
    low = segment.join(vrrp_settings(priority=100, interval_cs=10, source=LOWER_PEER), 1)
    high = segment.join(vrrp_settings(priority=200, interval_cs=10, source=HIGHER_PEER), 2)
    segment.run_until(1.0)
    assert (high.state, low.state) == (State.MASTER, State.BACKUP)
    claims = [m for _, m, a in segment.log if isinstance(a, ClaimAddresses)]
    assert claims == [high]
    # Shutdown: low takes over after its skew, not its down interval.
    stopped = segment.now
    segment.feed(high, ev.ShutdownRequested())
    segment.run_until(stopped + 0.2)
    took = next(
        t for t, m, a in segment.log if m is low and isinstance(a, StateChanged) and t >= stopped
    )
    assert low.state is State.MASTER
    assert took - stopped == pytest.approx(skew_time(100, 10))


def test_settings_refuse_what_vrrp3_does_not_have() -> None:
    with pytest.raises(SettingsError, match="no authentication"):
        vrrp_settings(passphrase=b"secret")
    with pytest.raises(SettingsError, match="interval"):
        vrrp_settings(interval=40.96)
    with pytest.raises(SettingsError, match=r"in steps of 0\.01"):
        vrrp_settings(interval=0.015)
    assert vrrp_settings(interval=0.07).interval_cs == 7
    with pytest.raises(SettingsError, match="priority"):
        vrrp_settings(priority=0)
    with pytest.raises(SettingsError, match="one family"):
        vrrp_settings(addresses=(VIRTUAL, ipaddress.IPv6Address("2001:db8::1")))
    with pytest.raises(SettingsError, match="multicast only"):
        vrrp_settings(multicast=False)


def test_a_host_running_vrrp3_counts_another_vrid_as_bad_vhid_not_as_vrrp() -> None:
    host = Host(random.Random(1), lambda key, action: None, lambda key, deadline: None)
    host.add("eth0", vrrp_settings(), 0.0)
    other_vrid = advert(200, vrid=8)
    drop = host.receive("eth0", other_vrid.payload, LOWER_PEER, 255, 1.0)
    assert drop is not None
    assert drop.reason is DropReason.BAD_VHID
    assert "for vhid 8" in drop.detail
    assert host.receive("eth0", b"", LOWER_PEER, 255, 1.0) is not None  # nothing breaks
    carp_only = Host(random.Random(1), lambda key, action: None, lambda key, deadline: None)
    drop = carp_only.receive("eth1", other_vrid.payload, LOWER_PEER, 255, 1.0)
    assert drop is not None
    assert drop.reason is DropReason.VRRP  # a CARP-only interface: a foreign protocol
