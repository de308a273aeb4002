"""GroupMachine scenarios: start-up, takeover, cadence, counters, election, bow-out, demotion.

Where a peer matters, the peer is another real GroupMachine on a :class:`Segment`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import random
from typing import Any

import pytest

from pycarp.core import events as ev
from pycarp.core import wire
from pycarp.core.actions import (
    Announce,
    ClaimAddresses,
    Hook,
    PacketDropped,
    ReleaseAddresses,
    RunHook,
    SendAdvertisement,
    StateChanged,
)
from pycarp.core.auth import SignatureMode, Signer, compute_digest
from pycarp.core.constants import IPAddress
from pycarp.core.machine import GroupMachine, TimeWentBackwards
from pycarp.core.settings import GroupSettings
from pycarp.core.stats import DropReason
from pycarp.core.table import State

from .support import (
    HIGHER_PEER,
    LOWER_PEER,
    OUR_SOURCE,
    VIRTUAL,
    Segment,
    group_settings,
    kinds,
    load_json_vectors,
    load_text_vectors,
    new_machine,
    received,
    sent,
    signed_advert,
)

V4 = ipaddress.IPv4Address
V6 = ipaddress.IPv6Address


def _backup(machine: GroupMachine, now: float = 0.0) -> GroupMachine:
    machine.handle(ev.Started(), now)
    assert machine.state is State.BACKUP
    return machine


def _master(machine: GroupMachine, now: float = 0.0) -> GroupMachine:
    _backup(machine, now)
    assert machine.next_deadline is not None
    machine.handle(ev.TimerExpired(), machine.next_deadline)
    assert machine.state is State.MASTER
    return machine


# -- start-up and takeover ------------------------------------------------------------------


def test_start_enters_backup_releases_stale_addresses_and_runs_the_down_hook() -> None:
    machine = new_machine()
    actions = machine.handle(ev.Started(), 100.0)
    assert actions == [
        StateChanged(old=State.INIT, new=State.BACKUP, reason="started"),
        ReleaseAddresses(),
        RunHook(hook=Hook.DOWN),
    ]
    assert machine.next_deadline == 103.0


def test_neutral_start_skips_the_down_hook() -> None:
    machine = new_machine(neutral=True)
    assert kinds(machine.handle(ev.Started(), 0.0)) == [StateChanged, ReleaseAddresses]


def test_start_without_carrier_waits_in_init_until_the_link_comes_up() -> None:
    machine = new_machine()
    assert machine.handle(ev.Started(link_up=False), 0.0) == [
        ReleaseAddresses(),
        RunHook(hook=Hook.DOWN),
    ]
    assert machine.state is State.INIT
    assert machine.next_deadline is None
    assert machine.handle(ev.LinkChanged(up=True), 5.0) == [
        StateChanged(old=State.INIT, new=State.BACKUP, reason="carrier up")
    ]
    assert machine.next_deadline == 8.0


def test_carrier_before_start_or_after_shutdown_does_nothing() -> None:
    machine = new_machine()
    assert machine.handle(ev.LinkChanged(up=True), 0.0) == []
    assert machine.state is State.INIT
    _backup(machine, 1.0)
    machine.handle(ev.ShutdownRequested(), 2.0)
    assert machine.handle(ev.LinkChanged(up=True), 3.0) == []
    assert machine.state is State.INIT
    assert machine.next_deadline is None


def test_master_down_timer_makes_us_master() -> None:
    machine = _backup(new_machine(advskew=64), 10.0)
    assert machine.next_deadline == 13.25
    actions = machine.handle(ev.TimerExpired(), 13.25)
    assert kinds(actions) == [StateChanged, ClaimAddresses, SendAdvertisement, Announce, RunHook]
    assert actions[0] == StateChanged(
        old=State.BACKUP, new=State.MASTER, reason="master-down timer expired"
    )
    assert actions[3] == Announce(repeat=0)
    assert actions[4] == RunHook(hook=Hook.UP)
    advert = sent(actions)[0]
    adv = wire.decode(advert.payload)
    assert (adv.vhid, adv.advbase, adv.advskew) == (7, 1, 64)
    assert (advert.advbase, advert.advskew, advert.counter) == (1, 64, adv.counter)
    assert advert.bow_out is False
    assert Signer(machine.settings.passphrase, 7, (VIRTUAL,)).verify(adv.counter_bytes, adv.digest)
    assert machine.next_deadline == 13.25 + 1.25


def test_an_early_timer_is_ignored() -> None:
    machine = _backup(new_machine(), 0.0)
    assert machine.handle(ev.TimerExpired(), 2.999) == []
    assert machine.state is State.BACKUP
    assert machine.next_deadline == 3.0


def test_a_timer_without_a_deadline_is_ignored() -> None:
    machine = new_machine()
    assert machine.handle(ev.TimerExpired(), 50.0) == []
    assert machine.state is State.INIT


def test_time_going_backwards_is_an_error() -> None:
    machine = _backup(new_machine(), 10.0)
    machine.handle(ev.TimerExpired(), 11.0)
    with pytest.raises(TimeWentBackwards, match=r"now=10\.5 after now=11\.0"):
        machine.handle(ev.TimerExpired(), 10.5)
    assert machine.handle(ev.TimerExpired(), 11.0) == []  # the same instant again is fine


# -- a master's cadence and counters --------------------------------------------------------


def test_master_advertises_every_interval_and_announces_once_more_after_two_adverts() -> None:
    machine = _backup(new_machine(advskew=128), 0.0)
    takeover = machine.next_deadline
    assert takeover == 3.5
    announces: list[list[Announce]] = []
    times = []
    now = takeover
    for _ in range(5):
        actions = machine.handle(ev.TimerExpired(), now)
        assert len(sent(actions)) == 1
        announces.append([a for a in actions if isinstance(a, Announce)])
        times.append(now)
        assert machine.next_deadline == now + 1.5
        now = machine.next_deadline
    assert times == [3.5, 5.0, 6.5, 8.0, 9.5]
    assert announces == [[Announce(repeat=0)], [], [Announce(repeat=1)], [], []]


def test_counter_starts_random_and_counts_up_by_one() -> None:
    """FreeBSD: one random start, then +1 per advert (not a fresh random value each time),
    so receivers that saw us count can recognise a replay."""
    machine = _backup(new_machine(seed=1234), 0.0)
    start = random.Random(1234).getrandbits(64)
    counters = []
    now = 3.0
    for _ in range(3):
        counters += [a.counter for a in sent(machine.handle(ev.TimerExpired(), now))]
        now += 1.0
    assert counters == [start, (start + 1) % 2**64, (start + 2) % 2**64]


def test_counter_never_continues_a_peers_count() -> None:
    """FreeBSD and ucarp continue the last master's count; pycarp keeps its own, so a backup
    that takes over because of loss never sends the counters the live master sends."""
    machine = _master(new_machine(seed=9), 0.0)
    start = random.Random(9).getrandbits(64)
    slower = signed_advert(machine.settings, advskew=200, counter=5000)
    counters = [a.counter for a in sent(machine.handle(received(slower), 3.5))]
    now = 4.5
    for _ in range(2):
        counters += [a.counter for a in sent(machine.handle(ev.TimerExpired(), now))]
        now += 1.0
    assert counters == [(start + n) % 2**64 for n in (1, 2, 3)]


class _Fixed(random.Random):
    def getrandbits(self, k: int, /) -> int:
        return 2**64 - 1


def test_counter_wraps_around() -> None:
    machine = _backup(GroupMachine(group_settings(), _Fixed()), 0.0)
    assert machine.next_deadline is not None
    first = sent(machine.handle(ev.TimerExpired(), machine.next_deadline))
    assert machine.next_deadline is not None
    second = sent(machine.handle(ev.TimerExpired(), machine.next_deadline))
    assert [a.counter for a in first + second] == [2**64 - 1, 0]


def test_an_invalid_advert_does_not_set_the_counter() -> None:
    machine = _backup(new_machine(seed=5), 0.0)
    wrong = group_settings(passphrase=b"wrong")
    machine.handle(received(signed_advert(wrong, counter=77)), 1.0)
    actions = machine.handle(ev.TimerExpired(), 3.0)
    assert [a.counter for a in sent(actions)] == [random.Random(5).getrandbits(64)]


def test_takeover_reproduces_ucarps_captured_adverts_but_its_counter() -> None:
    """ucarp_return_R0: .12 takes over from .11. Our adverts carry the same bytes as ucarp's
    real new master, except the counter (ucarp continues .11's count, we keep our own: see
    pycarp.core.replay) and so the digest, which verifies in ucarp's form at our counter.

    The 192.0.2.x addresses are only HMAC data here: nothing is configured anywhere.
    """
    group = [e for e in load_json_vectors() if e["group_note"].startswith("ucarp_return_R0")]
    old_master = [e for e in group if e["src_ip"] == "192.0.2.11"]
    new_master = [
        bytes.fromhex(e["carp_payload_hex"]) for e in group if e["src_ip"] == "192.0.2.12"
    ]
    assert (len(old_master), len(new_master)) == (2, 3)
    last_heard = bytes.fromhex(old_master[-1]["carp_payload_hex"])
    settings = GroupSettings(
        vhid=1,
        passphrase=b"secret",
        addresses=(V4("192.0.2.100"),),
        source=V4("192.0.2.12"),
        signature_mode=SignatureMode.UCARP,
    )
    machine = GroupMachine(settings, random.Random(0))
    machine.handle(ev.Started(), 0.0)
    assert machine.handle(received(last_heard, source=V4("192.0.2.11")), 1.0) == []
    now = 4.0
    ours = []
    for _ in range(3):
        ours += [a.payload for a in sent(machine.handle(ev.TimerExpired(), now))]
        now += 1.0
    signer = Signer(b"secret", 1, (V4("192.0.2.100"),), SignatureMode.UCARP)
    start = random.Random(0).getrandbits(64)
    for n, (mine, theirs) in enumerate(zip(ours, new_master, strict=True)):
        ours_decoded, theirs_decoded = wire.decode(mine), wire.decode(theirs)
        assert ours_decoded.counter == (start + n) % 2**64
        assert signer.verify(ours_decoded.counter_bytes, ours_decoded.digest)
        assert dataclasses.replace(ours_decoded, counter=0, digest=bytes(20)) == (
            dataclasses.replace(theirs_decoded, counter=0, digest=bytes(20))
        )


# -- election between real machines ---------------------------------------------------------


def _pair(
    a: GroupSettings, b: GroupSettings, *, start_b_at: float = 0.0
) -> tuple[Segment, GroupMachine, GroupMachine]:
    segment = Segment()
    first = segment.join(a, seed=1)
    segment.run_until(start_b_at)
    second = segment.join(b, seed=2)
    return segment, first, second


def test_the_faster_host_becomes_master_and_the_other_stays_backup() -> None:
    segment, fast, slow = _pair(
        group_settings(source=HIGHER_PEER, advskew=0),
        group_settings(source=LOWER_PEER, advskew=100),
    )
    segment.run_until(30.0)
    assert (fast.state, slow.state) == (State.MASTER, State.BACKUP)
    assert slow.last_master == HIGHER_PEER


def test_backup_takes_over_one_master_down_interval_after_the_last_advert() -> None:
    segment, master, backup = _pair(
        group_settings(source=LOWER_PEER), group_settings(source=HIGHER_PEER, advskew=100)
    )
    segment.run_until(10.0)
    assert master.state is State.MASTER
    last_advert = max(
        t for t, m, a in segment.log if m is master and isinstance(a, SendAdvertisement)
    )
    segment.kill(master)  # the master dies silently (kill -9)
    segment.run_until(30.0)
    takeover = [
        t
        for t, m, a in segment.log
        if m is backup and isinstance(a, StateChanged) and a.new is State.MASTER
    ]
    assert takeover == [last_advert + 3 + 100 / 256]
    first_new = next(
        a for t, m, a in segment.log if m is backup and isinstance(a, SendAdvertisement)
    )
    assert first_new.counter == random.Random(2).getrandbits(64)  # its own count, not the master's


@pytest.mark.parametrize(
    ("low", "high"),
    [
        (V4("198.51.100.9"), V4("198.51.100.10")),
        (V6("2001:db8::9"), V6("2001:db8::10")),
    ],
)
@pytest.mark.parametrize("low_first", [True, False])
def test_equal_timing_the_lower_address_stays_master(
    low: ipaddress.IPv4Address | ipaddress.IPv6Address,
    high: ipaddress.IPv4Address | ipaddress.IPv6Address,
    low_first: bool,
) -> None:
    """Two masters (a healed partition) with the same timing: the lower address wins, at once."""
    segment = Segment()
    order = [(low, 1), (high, 2)] if low_first else [(high, 2), (low, 1)]
    first, second = (
        segment.join(group_settings(source=source, advskew=20), seed=seed, plugged=False)
        for source, seed in order
    )
    lower, higher = (first, second) if low_first else (second, first)
    segment.run_until(3.5)  # each, hearing nobody, became master at the same instant
    assert (lower.state, higher.state) == (State.MASTER, State.MASTER)
    deadline = lower.next_deadline
    assert deadline is not None
    assert deadline == higher.next_deadline
    segment.plug(lower)
    segment.plug(higher)
    segment.run_until(deadline)  # ``first`` advertises first, ``second`` hears it at once
    assert (lower.state, higher.state) == (State.MASTER, State.BACKUP)
    step_down = [
        a
        for t, m, a in segment.log
        if t == deadline and m is higher and isinstance(a, StateChanged)
    ]
    assert step_down[0].new is State.BACKUP
    assert "equal peer wins" in step_down[0].reason
    segment.run_until(60.0)
    assert (lower.state, higher.state) == (State.MASTER, State.BACKUP)


@pytest.mark.parametrize("preempt", [False, True])
def test_preemption_of_a_slower_master(preempt: bool) -> None:
    machine = _backup(new_machine(preempt=preempt), 0.0)
    slower = signed_advert(machine.settings, advskew=50)
    actions = machine.handle(received(slower), 1.0)
    if preempt:
        assert kinds(actions)[:3] == [StateChanged, ClaimAddresses, SendAdvertisement]
        assert isinstance(actions[0], StateChanged)
        assert actions[0].reason.startswith("preempting: advert from 198.51.100.1")
        assert machine.state is State.MASTER
    else:
        assert actions == []
        assert machine.state is State.BACKUP
        assert machine.next_deadline == 4.0


@pytest.mark.parametrize(
    ("their_advskew", "our_advskew", "takes_over"),
    [(240, 0, True), (254, 100, True), (239, 0, False), (240, 240, False), (250, 245, False)],
)
def test_a_master_at_the_demotion_ceiling_is_only_a_last_resort(
    their_advskew: int, our_advskew: int, takes_over: bool
) -> None:
    """Without preempt, a healthy backup takes over from a master advertising advskew 240 or
    more (in maintenance, a failed track, a dead link elsewhere) unless it is there itself."""
    machine = _backup(new_machine(advskew=our_advskew), 0.0)
    actions = machine.handle(received(signed_advert(machine.settings, advskew=their_advskew)), 1.0)
    if takes_over:
        assert machine.state is State.MASTER
        assert isinstance(actions[0], StateChanged)
        assert actions[0].reason.startswith("the master is only a last resort: advert from")
        assert actions[0].cause == "preempt"
    else:
        assert actions == []
        assert machine.state is State.BACKUP


def test_preempting_hosts_converge_on_the_faster_one() -> None:
    segment, slow, fast = _pair(
        group_settings(source=LOWER_PEER, advskew=100, preempt=True),
        group_settings(source=HIGHER_PEER, advskew=10, preempt=True),
        start_b_at=10.0,  # the slow host is master by the time the fast one starts
    )
    assert slow.state is State.MASTER
    segment.run_until(40.0)
    assert (fast.state, slow.state) == (State.MASTER, State.BACKUP)


# -- leaving: bow-out, carrier, administrator -----------------------------------------------


def test_shutdown_from_master_bows_out_and_releases() -> None:
    machine = _master(new_machine(), 0.0)
    actions = machine.handle(ev.ShutdownRequested(), 3.5)
    assert kinds(actions) == [StateChanged, SendAdvertisement, ReleaseAddresses, RunHook]
    assert actions[0] == StateChanged(old=State.MASTER, new=State.INIT, reason="shutting down")
    bow_out = sent(actions)[0]
    assert (bow_out.advbase, bow_out.advskew, bow_out.bow_out) == (255, 255, True)
    adv = wire.decode(bow_out.payload)
    assert (adv.advbase, adv.advskew) == (255, 255)
    assert actions[3] == RunHook(hook=Hook.DOWN)
    assert machine.next_deadline is None


def test_shutdown_from_backup_sends_nothing() -> None:
    machine = _backup(new_machine(), 0.0)
    assert kinds(machine.handle(ev.ShutdownRequested(), 1.0)) == [StateChanged]
    assert machine.state is State.INIT
    assert machine.handle(ev.ShutdownRequested(), 2.0) == []


@pytest.mark.parametrize("advskew", [0, 50])
def test_a_backup_hearing_a_bow_out_takes_over_after_its_own_skew(advskew: int) -> None:
    segment, master, backup = _pair(
        group_settings(source=LOWER_PEER, advskew=0),
        group_settings(source=HIGHER_PEER, advskew=advskew),
    )
    segment.run_until(10.0)
    assert (master.state, backup.state) == (State.MASTER, State.BACKUP)
    segment.now = 10.2
    segment.feed(master, ev.ShutdownRequested())
    segment.run_until(10.2 + advskew / 256)
    assert (master.state, backup.state) == (State.INIT, State.MASTER)
    change = [a for t, m, a in segment.log if m is backup and isinstance(a, StateChanged)][-1]
    assert "advert from 198.51.100.1 (advbase 255, advskew 255) is departing" in change.reason
    claimed = [t for t, m, a in segment.log if m is backup and isinstance(a, ClaimAddresses)]
    assert claimed == [pytest.approx(10.2 + advskew / 256)]


def test_a_better_backup_answers_a_bow_out_first_and_the_others_stay() -> None:
    """Three hosts: the master leaves; only the advskew-50 backup ever becomes master."""
    segment, master, better = _pair(
        group_settings(source=LOWER_PEER, advskew=0),
        group_settings(source=HIGHER_PEER, advskew=50),
    )
    worse = segment.join(
        group_settings(source=ipaddress.ip_address("198.51.100.9"), advskew=200), seed=3
    )
    segment.run_until(10.0)
    segment.now = 10.2
    segment.feed(master, ev.ShutdownRequested())
    segment.run_until(14.0)
    assert (master.state, better.state, worse.state) == (State.INIT, State.MASTER, State.BACKUP)
    worse_changes = [a for t, m, a in segment.log if m is worse and isinstance(a, StateChanged)]
    assert [(c.old, c.new) for c in worse_changes] == [(State.INIT, State.BACKUP)]


@pytest.mark.parametrize("from_master", [True, False])
def test_carrier_loss_goes_to_init_and_carrier_back_to_backup(from_master: bool) -> None:
    machine = _master(new_machine(), 0.0) if from_master else _backup(new_machine(), 0.0)
    actions = machine.handle(ev.LinkChanged(up=False), 3.5)
    expected = [StateChanged, ReleaseAddresses, RunHook] if from_master else [StateChanged]
    assert kinds(actions) == expected
    assert isinstance(actions[0], StateChanged)
    assert actions[0].reason == "carrier lost"
    assert not sent(actions)  # no bow-out: there is no carrier to send it on
    assert (machine.state, machine.next_deadline) == (State.INIT, None)
    assert machine.handle(ev.LinkChanged(up=False), 4.0) == []
    assert kinds(machine.handle(ev.LinkChanged(up=True), 5.0)) == [StateChanged]
    assert (machine.state, machine.next_deadline) == (State.BACKUP, 8.0)


def test_forced_master_and_forced_backup() -> None:
    machine = _backup(new_machine(), 0.0)
    actions = machine.handle(ev.AdminForced(state=ev.ForcedState.MASTER), 1.0)
    assert kinds(actions) == [StateChanged, ClaimAddresses, SendAdvertisement, Announce, RunHook]
    assert isinstance(actions[0], StateChanged)
    assert actions[0].reason == "forced to master"
    actions = machine.handle(ev.AdminForced(state=ev.ForcedState.BACKUP), 2.0)
    # A bow-out first, so the next backup takes over at once rather than after its
    # master-down interval (and this host, whose timer may be the shortest, does not return).
    bow_out, *rest = actions
    assert isinstance(bow_out, SendAdvertisement)
    assert (bow_out.advbase, bow_out.advskew, bow_out.bow_out) == (255, 255, True)
    assert rest == [
        StateChanged(old=State.MASTER, new=State.BACKUP, reason="forced to backup"),
        ReleaseAddresses(),
        RunHook(hook=Hook.DOWN),
    ]
    assert machine.next_deadline == 5.0


def test_forcing_master_without_carrier_is_refused() -> None:
    machine = new_machine()
    machine.handle(ev.Started(link_up=False), 0.0)
    assert machine.handle(ev.AdminForced(state=ev.ForcedState.MASTER), 1.0) == []
    assert machine.state is State.INIT


# -- demotion -------------------------------------------------------------------------------


def test_demotion_changes_the_advskew_on_the_wire_and_the_intervals() -> None:
    machine = _master(new_machine(advskew=10), 0.0)
    assert (machine.advskew_on_wire, machine.advertisement_interval) == (10, 1 + 10 / 256)
    assert machine.handle(ev.DemotionChanged(demotion=50), 4.0) == []
    assert machine.demotion == 50
    assert machine.advskew_on_wire == 60
    assert machine.advertisement_interval == 1 + 60 / 256
    assert machine.master_down_interval == 3 + 60 / 256
    deadline = machine.next_deadline
    assert deadline is not None
    advert = sent(machine.handle(ev.TimerExpired(), deadline))[0]
    assert wire.decode(advert.payload).advskew == advert.advskew == 60
    assert machine.next_deadline == deadline + 1 + 60 / 256
    machine.handle(ev.DemotionChanged(demotion=1000), deadline + 0.5)
    assert machine.advskew_on_wire == 240  # capped
    machine.handle(ev.DemotionChanged(demotion=0), deadline + 0.6)
    assert machine.advskew_on_wire == 10


def test_a_demoted_master_yields_to_a_preempting_backup() -> None:
    segment, master, backup = _pair(
        group_settings(source=LOWER_PEER, advskew=0),
        group_settings(source=HIGHER_PEER, advskew=100, preempt=True),
    )
    segment.run_until(10.0)
    assert master.state is State.MASTER
    segment.host(master).demote("=", 200, segment.now)
    segment.run_until(13.0)
    assert (master.state, backup.state) == (State.BACKUP, State.MASTER)


def test_three_send_errors_demote_and_three_successes_undo_it() -> None:
    machine = _master(new_machine(senderr_demotion=200, advskew=5), 0.0)
    for ok in (False, False, True, False, False):  # a success in between resets the count
        machine.handle(ev.SendCompleted(ok=ok), 4.0)
    assert machine.demotion == 0
    machine.handle(ev.SendCompleted(ok=False), 4.0)
    assert machine.demotion == 200
    assert machine.advskew_on_wire == 205
    for _ in range(2):
        machine.handle(ev.SendCompleted(ok=True), 4.0)
    assert machine.demotion == 200
    machine.handle(ev.SendCompleted(ok=False), 4.0)  # a failure in between resets the count
    for _ in range(2):
        machine.handle(ev.SendCompleted(ok=True), 4.0)
    assert machine.demotion == 200
    machine.handle(ev.SendCompleted(ok=True), 4.0)
    assert machine.demotion == 0
    assert machine.advskew_on_wire == 5


def test_send_error_demotion_adds_to_host_demotion() -> None:
    machine = _master(new_machine(senderr_demotion=30), 0.0)
    machine.handle(ev.DemotionChanged(demotion=20), 4.0)
    for _ in range(3):
        machine.handle(ev.SendCompleted(ok=False), 4.0)
    assert machine.demotion == 50


# -- what gets dropped, and counted ---------------------------------------------------------


def _payload_with(**fields: int) -> bytes:
    values: dict[str, Any] = {"vhid": 7, "advbase": 1, "advskew": 0, "counter": 1}
    values.update(fields)
    return wire.encode(wire.Advertisement(digest=bytes(20), **values))


def _drop_cases(settings: GroupSettings) -> dict[DropReason, tuple[bytes, int, IPAddress]]:
    good = signed_advert(settings)
    corrupt = bytearray(good)
    corrupt[25] ^= 0x10
    vrrp3 = load_text_vectors("keepalived_vrrp3_v4.txt")[0].payload
    wrong_key = signed_advert(group_settings(passphrase=b"not ours"))
    return {
        DropReason.BAD_TTL: (good, 254, LOWER_PEER),
        DropReason.TOO_SHORT: (good[:20], 255, LOWER_PEER),
        DropReason.BAD_CHECKSUM: (bytes(corrupt), 255, LOWER_PEER),
        DropReason.VRRP: (vrrp3, 255, LOWER_PEER),
        DropReason.BAD_VERSION: (_payload_with(version=1), 255, LOWER_PEER),
        DropReason.BAD_TYPE: (_payload_with(type=2), 255, LOWER_PEER),
        DropReason.BAD_AUTHLEN: (_payload_with(authlen=3), 255, LOWER_PEER),
        DropReason.BAD_VHID: (signed_advert(settings, vhid=8), 255, LOWER_PEER),
        DropReason.OWN_PACKET: (good, 255, OUR_SOURCE),
        DropReason.BAD_AUTH: (wrong_key, 255, LOWER_PEER),
    }


def _counting_peer(machine: GroupMachine, now: float) -> bytes:
    """A slower peer counting 500, 501 (changes no state); returns its first advert again."""
    for counter in (500, 501):
        advert = signed_advert(machine.settings, advbase=2, counter=counter)
        machine.handle(received(advert, source=HIGHER_PEER), now)
    return signed_advert(machine.settings, advbase=2, counter=500)


@pytest.mark.parametrize("state", list(State))
def test_every_drop_reason_is_reported_and_counted(state: State) -> None:
    machine = new_machine(seed=1)
    if state is not State.INIT:
        _backup(machine, 0.0)
    if state is State.MASTER:
        machine.handle(ev.TimerExpired(), 3.0)
    cases = _drop_cases(machine.settings)
    cases[DropReason.REPLAY] = (_counting_peer(machine, 3.05), 255, LOWER_PEER)
    expected = set(DropReason) - {DropReason.BAD_INTERVAL}  # VRRPv3's: test_vrrp.py
    if state is State.MASTER:  # only a master drops its own counters (see pycarp.core.replay)
        ours = signed_advert(machine.settings, counter=random.Random(1).getrandbits(64))
        cases[DropReason.OWN_COUNTER] = (ours, 255, LOWER_PEER)
    else:
        expected.discard(DropReason.OWN_COUNTER)
    assert set(cases) == expected
    deadline = machine.next_deadline
    for reason, (payload, ttl, source) in cases.items():
        packet = ev.PacketReceived(payload=payload, ttl=ttl, source=source)
        actions = machine.handle(packet, 3.1)
        assert len(actions) == 1
        dropped = actions[0]
        assert isinstance(dropped, PacketDropped)
        assert dropped.reason is reason
        assert dropped.report
        assert dropped.detail.startswith(f"from {source}: ")
        assert machine.stats[reason] == 1
    assert machine.state is state
    assert machine.next_deadline == deadline  # nothing invalid ever restarts a timer
    assert machine.stats.total == len(expected)
    assert machine.stats.as_dict() == {r.value: int(r in expected) for r in DropReason}


def test_vhid_zero_counts_as_bad_vhid() -> None:
    machine = _backup(new_machine(), 0.0)
    [dropped] = machine.handle(received(_payload_with(vhid=0)), 1.0)
    assert isinstance(dropped, PacketDropped)
    assert dropped.reason is DropReason.BAD_VHID


def test_unicast_groups_skip_the_ttl_check() -> None:
    machine = _backup(new_machine(multicast=False), 0.0)
    assert machine.handle(received(signed_advert(machine.settings), ttl=63), 1.0) == []
    assert machine.stats.total == 0
    assert machine.next_deadline == 4.0


def test_stats_start_at_zero_for_every_reason() -> None:
    machine = new_machine()
    assert machine.stats.total == 0
    assert machine.stats.as_dict() == {reason.value: 0 for reason in DropReason}


def test_a_ucarp_digest_in_a_kernel_group_says_what_to_change() -> None:
    addresses = (VIRTUAL, V4("198.51.100.101"))
    machine = _backup(new_machine(addresses=addresses), 0.0)
    counter = (99).to_bytes(8, "big")
    digest = compute_digest(machine.settings.passphrase, 7, addresses, counter, SignatureMode.UCARP)
    payload = wire.encode(
        wire.Advertisement(vhid=7, advbase=1, advskew=0, counter=99, digest=digest)
    )
    [dropped] = machine.handle(received(payload), 1.0)
    assert isinstance(dropped, PacketDropped)
    assert dropped.reason is DropReason.BAD_AUTH
    assert "set signature mode to ucarp" in dropped.detail


def test_a_plain_bad_digest_names_the_likely_causes() -> None:
    machine = _backup(new_machine(), 0.0)
    wrong = signed_advert(group_settings(passphrase=b"not ours"))
    [dropped] = machine.handle(received(wrong), 1.0)
    assert isinstance(dropped, PacketDropped)
    assert "passphrase or address set differ" in dropped.detail


def test_a_master_answers_a_slower_master_at_once_and_announces_again() -> None:
    machine = _master(new_machine(), 0.0)
    slower = signed_advert(machine.settings, advskew=200)
    actions = machine.handle(received(slower), 3.4)
    assert kinds(actions) == [SendAdvertisement, Announce]
    assert machine.state is State.MASTER
    assert machine.next_deadline == 3.4 + machine.advertisement_interval


def test_a_paused_master_steps_down_instead_of_fighting() -> None:
    machine = _master(new_machine(), 0.0)
    assert machine.next_deadline is not None
    late = machine.next_deadline + machine.stall_threshold + 0.1
    actions = machine.handle(ev.TimerExpired(), late)
    assert machine.state is State.BACKUP
    assert kinds(actions) == [StateChanged, ReleaseAddresses, RunHook]
    change = actions[0]
    assert isinstance(change, StateChanged)
    assert "paused" in change.reason
    assert machine.next_deadline == late + machine.master_down_interval


def test_a_master_late_by_less_than_the_threshold_just_advertises() -> None:
    machine = _master(new_machine(), 0.0)
    assert machine.next_deadline is not None
    late = machine.next_deadline + machine.stall_threshold - 0.1
    assert kinds(machine.handle(ev.TimerExpired(), late)) == [SendAdvertisement]
    assert machine.state is State.MASTER


def test_a_paused_backup_listens_again_before_taking_over() -> None:
    machine = _backup(new_machine(), 0.0)
    assert machine.next_deadline is not None
    late = machine.next_deadline + machine.stall_threshold + 0.1
    assert machine.handle(ev.TimerExpired(), late) == []
    assert machine.state is State.BACKUP
    assert machine.next_deadline == late + machine.master_down_interval


def _queued(payload: bytes) -> ev.PacketReceived:
    """Read by the timer's callback before the timer itself: it waited in the socket."""
    return ev.PacketReceived(payload=payload, source=LOWER_PEER, ttl=255, queued=True)


def test_a_paused_master_processes_the_queued_advert_as_a_backup() -> None:
    """After SIGSTOP, the new (slower) master's queued advert must not be fought."""
    machine = _master(new_machine(), 0.0)
    assert machine.next_deadline is not None
    late = machine.next_deadline + machine.stall_threshold + 0.1
    slower = signed_advert(machine.settings, advskew=200)
    actions = machine.handle(_queued(slower), late)
    assert machine.state is State.BACKUP
    assert SendAdvertisement not in kinds(actions)


def test_a_late_packet_alone_never_means_we_were_paused() -> None:
    """Under a flood a due timer may run after the packets; only the timer's own lateness
    (or the packets its callback read first) may say "paused"."""
    machine = _master(new_machine(), 0.0)
    assert machine.next_deadline is not None
    late = machine.next_deadline + machine.stall_threshold + 0.1
    slower = signed_advert(machine.settings, advskew=200)
    actions = machine.handle(received(slower), late)
    assert machine.state is State.MASTER
    assert kinds(actions) == [SendAdvertisement, Announce]  # answered as a master


def test_queued_garbage_does_not_trigger_the_pause_row() -> None:
    machine = _master(new_machine(), 0.0)
    assert machine.next_deadline is not None
    late = machine.next_deadline + machine.stall_threshold + 0.1
    actions = machine.handle(_queued(b"\x21garbage"), late)
    assert kinds(actions) == [PacketDropped]
    assert machine.state is State.MASTER
    step_down = machine.handle(ev.TimerExpired(), late)  # the timer itself then says it
    assert kinds(step_down)[0] is StateChanged


@pytest.mark.parametrize(
    ("dead_ratio", "advbase", "expected"), [(3, 1, 2.0), (1, 2, 2.0), (5, 2, 8.0)]
)
def test_stall_threshold(dead_ratio: int, advbase: int, expected: float) -> None:
    machine = new_machine(dead_ratio=dead_ratio, advbase=advbase)
    assert machine.stall_threshold == expected


def test_a_paused_master_with_preempt_keeps_its_role_against_a_slower_master() -> None:
    """Stepping down only to preempt again at once would move the addresses twice."""
    machine = _master(new_machine(preempt=True), 0.0)
    assert machine.next_deadline is not None
    late = machine.next_deadline + machine.stall_threshold + 0.1
    slower = signed_advert(machine.settings, advskew=200)
    actions = machine.handle(_queued(slower), late)
    assert machine.state is State.MASTER
    assert kinds(actions) == [SendAdvertisement, Announce]


def test_a_master_yields_with_a_last_advert_so_the_winner_reasserts() -> None:
    machine = _master(new_machine(advskew=100), 0.0)
    faster = signed_advert(machine.settings, advskew=0)
    actions = machine.handle(received(faster), 4.2)
    assert kinds(actions) == [SendAdvertisement, StateChanged, ReleaseAddresses, RunHook]
    assert machine.state is State.BACKUP


def test_a_paused_master_hearing_a_bow_out_keeps_its_role() -> None:
    machine = _master(new_machine(), 0.0)
    assert machine.next_deadline is not None
    late = machine.next_deadline + machine.stall_threshold + 0.1
    departing = signed_advert(machine.settings, advbase=255, advskew=255)
    assert machine.handle(_queued(departing), late) == []
    assert machine.state is State.MASTER
