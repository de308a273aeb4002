"""Replay resistance: what a host without the key can and cannot do with captured adverts.

See pycarp.core.replay for the rules. Each test is a scenario an attacker on the segment can
stage, or a real peer's counter behaviour that must keep working.
"""

from __future__ import annotations

import ipaddress
import random

from pycarp.core import events as ev
from pycarp.core.actions import PacketDropped, SendAdvertisement, StateChanged
from pycarp.core.machine import GroupMachine
from pycarp.core.replay import MAX_RUNS, ReplayGuard
from pycarp.core.stats import REPORT_LIMIT, DropReason, DropReports, Report
from pycarp.core.table import State

from .support import (
    HIGHER_PEER,
    LOWER_PEER,
    group_settings,
    new_machine,
    received,
    sent,
    signed_advert,
)

ATTACKER = ipaddress.IPv4Address("198.51.100.0")


def _backup(machine: GroupMachine, now: float) -> GroupMachine:
    machine.handle(ev.Started(), now)
    return machine


def _master(machine: GroupMachine) -> tuple[GroupMachine, list[SendAdvertisement]]:
    _backup(machine, 0.0)
    assert machine.next_deadline is not None
    adverts = sent(machine.handle(ev.TimerExpired(), machine.next_deadline))
    assert machine.state is State.MASTER
    return machine, adverts


def test_a_master_ignores_its_own_advert_replayed_from_another_address() -> None:
    """Today's attack: the replay ranks as an equal peer with a lower address: the master
    yielded to a ghost and nobody held the address."""
    machine, [first] = _master(new_machine(seed=3, source=HIGHER_PEER))
    for _ in range(10):
        actions = machine.handle(received(first.payload, source=ATTACKER), 3.5)
        assert [type(a).__name__ for a in actions] == ["PacketDropped"]
    assert machine.state is State.MASTER
    assert machine.stats[DropReason.OWN_COUNTER] == 10


def test_a_backup_ignores_a_dead_masters_replayed_advert_and_takes_over_on_time() -> None:
    machine = _backup(new_machine(advskew=100), 0.0)
    adverts = [signed_advert(machine.settings, counter=c) for c in range(7000, 7005)]
    before_we_started = signed_advert(machine.settings, counter=6990)
    now = 0.0
    for advert in adverts[2:]:  # the master counts: 7002 .. 7004, one per second
        now += 1.0
        machine.handle(received(advert, source=LOWER_PEER), now)
    deadline = machine.next_deadline
    assert deadline == now + machine.master_down_interval
    # the master dies; its last (and an older) advert are replayed, also from its own address
    # (What it sent before we heard it counts as its past only from its own address: from
    # another, it could be an OpenBSD cookie it continued from; see test_openbsd.py.)
    replays = ((adverts[-1], ATTACKER), (adverts[1], LOWER_PEER), (before_we_started, LOWER_PEER))
    for replay, source in replays:
        now += 1.0
        actions = machine.handle(received(replay, source=source), now)
        assert actions
        assert all(getattr(a, "reason", None) is DropReason.REPLAY for a in actions)
    assert machine.next_deadline == deadline  # the replays restarted nothing
    takeover = machine.handle(ev.TimerExpired(), deadline)
    assert machine.state is State.MASTER
    assert isinstance(takeover[0], StateChanged)


def test_a_constant_cookie_master_keeps_its_backups_waiting() -> None:
    """OpenBSD sends one counter forever: it cannot be protected, it must keep working."""
    machine = _backup(new_machine(advskew=100), 0.0)
    cookie = signed_advert(machine.settings, counter=0xC0FFEE)
    for second in range(1, 31):
        assert machine.handle(received(cookie), float(second)) == []
    assert machine.state is State.BACKUP
    assert machine.stats.total == 0


def test_random_counters_keep_working() -> None:
    """ucarp before it has heard a peer: a fresh random counter per advert."""
    machine = _backup(new_machine(advskew=100), 0.0)
    rng = random.Random(7)
    for second in range(1, 31):
        advert = signed_advert(machine.settings, counter=rng.getrandbits(64))
        assert machine.handle(received(advert), float(second)) == []
    assert machine.stats.total == 0


def test_a_takeover_that_continues_the_old_masters_count_is_accepted() -> None:
    """FreeBSD and ucarp continue the last counter they heard; that is not a replay."""
    machine = _backup(new_machine(advskew=200), 0.0)
    for second, counter in enumerate(range(100, 104), start=1):
        machine.handle(received(signed_advert(machine.settings, counter=counter)), float(second))
    new_master = signed_advert(machine.settings, advskew=100, counter=104)
    assert machine.handle(received(new_master, source=HIGHER_PEER), 5.0) == []
    assert machine.stats.total == 0


def test_a_trailing_kernel_master_is_heard_once_it_continues_past_the_others_count() -> None:
    """After a partition a FreeBSD master that took over trails the other side's count: its
    repeated counters look like replays until it adopts a newer one (on hearing the other
    side) and continues from there."""
    machine = _backup(new_machine(advskew=200), 0.0)
    now = 0.0
    for counter in range(500, 510):  # one side's master, ahead
        now += 0.5
        machine.handle(received(signed_advert(machine.settings, counter=counter)), now)
    trailing = signed_advert(machine.settings, advskew=100, counter=505)
    machine.handle(received(trailing, source=HIGHER_PEER), now + 0.1)
    assert machine.stats[DropReason.REPLAY] == 1
    for counter in (510, 511):  # it heard 509 and counts on from there
        now += 0.5
        advert = signed_advert(machine.settings, advskew=100, counter=counter)
        assert machine.handle(received(advert, source=HIGHER_PEER), now) == []
    assert machine.stats.total == 1


def test_a_master_hearing_its_own_count_jumps_ahead_so_an_adopting_peer_parts_ways() -> None:
    machine, [first] = _master(new_machine(seed=4, advskew=100))
    trailing_peer = signed_advert(machine.settings, advskew=0, counter=first.counter)
    machine.handle(received(trailing_peer, source=HIGHER_PEER), 3.6)
    assert machine.stats[DropReason.OWN_COUNTER] == 1
    assert machine.next_deadline is not None
    [after] = sent(machine.handle(ev.TimerExpired(), machine.next_deadline))
    assert 2**20 < after.counter - first.counter <= 2**31
    # the peer adopts the counter it hears and speaks before our next advert: we never sent
    # that one, so it is heard, and the election goes on (it is faster: we yield)
    adopted = signed_advert(machine.settings, advskew=0, counter=after.counter + 1)
    machine.handle(received(adopted, source=HIGHER_PEER), machine.next_deadline - 0.1)
    assert machine.state is State.BACKUP


def test_runs_are_bounded() -> None:
    guard = ReplayGuard()
    rng = random.Random(1)
    for _ in range(1000):
        start = rng.getrandbits(64)
        source = ipaddress.IPv4Address(rng.getrandbits(32))
        guard.record_accepted(start, source)
        guard.record_accepted(start + 1, source)
        guard.record_sent(rng.getrandbits(64))
    assert len(guard._accepted) == MAX_RUNS


def test_our_own_count_is_one_run_however_long() -> None:
    guard = ReplayGuard()
    for counter in range(2**64 - 5, 2**64 + 5):  # across the wrap
        guard.record_sent(counter % 2**64)
    assert guard._sent is not None
    assert all(guard.is_ours(c) for c in (2**64 - 5, 0, 4))
    assert not any(guard.is_ours(c) for c in (5, 2**64 - 6))


# -- drop reports: bounded whatever the flood --------------------------------------------------


def test_a_spoofed_flood_reports_a_bounded_number_of_senders() -> None:
    reports = DropReports()
    seen: list[Report] = []
    for n in range(1_000_000):
        source = (
            ipaddress.IPv4Address(0xC6336400 + n % 256)
            if n % 2
            else ipaddress.IPv6Address(0x20010DB8 << 96 | n)
        )
        seen.append(reports.classify(DropReason.BAD_AUTH, source, n / 50_000))
    assert seen.count(Report.NEW) == REPORT_LIMIT
    assert seen.count(Report.LIMIT) == 1
    assert len(reports._seen) == REPORT_LIMIT


def test_ipv6_senders_are_told_apart() -> None:
    """The old key was the text before the first colon: every IPv6 sender looked the same."""
    reports = DropReports()
    first = ipaddress.IPv6Address("2001:db8::1")
    second = ipaddress.IPv6Address("2001:db8::2")
    assert reports.classify(DropReason.BAD_AUTH, first, 0.0) is Report.NEW
    assert reports.classify(DropReason.BAD_AUTH, second, 0.0) is Report.NEW
    assert reports.classify(DropReason.BAD_AUTH, second, 1.0) is Report.SEEN


def test_reports_start_again_after_the_window() -> None:
    reports = DropReports()
    assert reports.classify(DropReason.BAD_TTL, LOWER_PEER, 0.0) is Report.NEW
    assert reports.classify(DropReason.BAD_TTL, LOWER_PEER, 599.0) is Report.SEEN
    assert reports.classify(DropReason.BAD_TTL, LOWER_PEER, 600.0) is Report.NEW


def test_a_forged_flood_explains_the_mismatch_only_for_reported_drops() -> None:
    """Explaining costs one HMAC per address; counted-only drops carry no detail."""
    settings = group_settings(
        addresses=(ipaddress.IPv4Address("198.51.100.100"), ipaddress.IPv4Address("198.51.100.101"))
    )
    machine = _backup(GroupMachine(settings, random.Random(1)), 0.0)
    forged = signed_advert(group_settings(passphrase=b"guess"), counter=1)
    details = [machine.handle(received(forged), 1.0)[0] for _ in range(100)]
    assert all(isinstance(d, PacketDropped) for d in details)
    assert [d.report for d in details if isinstance(d, PacketDropped)].count(True) == 1
    assert all(isinstance(d, PacketDropped) and d.detail == "" for d in details[1:])
    assert machine.stats[DropReason.BAD_AUTH] == 100


def test_replays_cannot_push_a_masters_old_counters_out_of_memory() -> None:
    """Every replay of our own advert makes the master jump; the old counters must stay
    ours however many jumps there were (a run per jump once let the 9th replay through)."""
    machine, [first] = _master(new_machine(seed=8, source=HIGHER_PEER))
    for n in range(200):
        assert machine.next_deadline is not None
        now = machine.next_deadline
        [latest] = sent(machine.handle(ev.TimerExpired(), now))
        replay = first if n % 2 else latest
        machine.handle(received(replay.payload, source=ATTACKER), now + 0.5)
        assert machine.state is State.MASTER, n
    assert machine.stats[DropReason.OWN_COUNTER] == 200


def test_single_adverts_are_forgotten_before_counting_runs() -> None:
    guard = ReplayGuard()
    master = ipaddress.IPv4Address("198.51.100.1")
    guard.record_accepted(1000, master)
    guard.record_accepted(1001, master)
    for n in range(3 * MAX_RUNS):  # lone old adverts from elsewhere
        guard.record_accepted(10**9 * (n + 1), ipaddress.IPv4Address(0xC6336400 + n))
    assert guard.stale_run(1000, ipaddress.IPv4Address("198.51.100.77")) is not None
