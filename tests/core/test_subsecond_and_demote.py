"""OpenBSD's two election extensions: advbase 0 (sub-second CARP) and the demote byte (pad1).

Timing at advbase 0 (OpenBSD ``carp_setrun``): a master advertises every advskew/256 s (1/256 s
when advskew is 0 too); a backup waits 3 such intervals; the "bound to time out" rule is skipped.
The demote byte is compared before timing (OpenBSD ``carp_proto_input_c``).
"""

from __future__ import annotations

import ipaddress
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pycarp.core import events as ev
from pycarp.core import wire
from pycarp.core.actions import SendAdvertisement, StateChanged
from pycarp.core.election import Verdict, judge
from pycarp.core.explain import why
from pycarp.core.machine import GroupMachine
from pycarp.core.settings import DemoteOnWire, GroupSettings, SettingsError
from pycarp.core.stall import MIN_STALL_THRESHOLD, stall_threshold
from pycarp.core.table import State
from pycarp.core.timing import (
    BOW_OUT_ADVBASE,
    BOW_OUT_ADVSKEW,
    SKEW_UNIT,
    advertisement_interval,
    election_time,
    master_down_interval,
)

from .support import (
    HIGHER_PEER,
    LOWER_PEER,
    Segment,
    group_settings,
    new_machine,
    received,
    sent,
    signed_advert,
)

OURS = ipaddress.IPv4Address("198.51.100.2")
PEER = ipaddress.IPv4Address("198.51.100.9")


# -- timing at advbase 0 --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("advskew", "interval", "master_down"),
    [
        (25, 25 / 256, 75 / 256),
        (50, 50 / 256, 150 / 256),
        (0, 1 / 256, 3 / 256),
        (254, 254 / 256, 3 * 254 / 256),
    ],
)
def test_advbase_zero_timing_is_openbsds(advskew: int, interval: float, master_down: float) -> None:
    assert advertisement_interval(0, advskew) == interval
    assert master_down_interval(0, advskew) == pytest.approx(master_down)


def test_advbase_zero_master_down_scales_with_dead_ratio() -> None:
    assert master_down_interval(0, 64, 5) == 5 * 64 / 256
    assert master_down_interval(0, 64, 1) == advertisement_interval(0, 64)


def test_whole_second_timing_is_unchanged() -> None:
    assert (advertisement_interval(1, 128), master_down_interval(1, 128)) == (1.5, 3.5)


def test_masters_compare_the_plain_value_so_advskew_zero_still_ranks_first() -> None:
    # (0, 0) advertises every 1/256 s like (0, 1), but the kernels compare advbase + advskew/256
    assert advertisement_interval(0, 0) == advertisement_interval(0, 1)
    assert election_time(0, 0) < election_time(0, 1)
    assert judge(
        our_advbase=0, our_advskew=1, peer_advbase=0, peer_advskew=0, dead_ratio=3,
        our_address=OURS, peer_address=PEER,
    ) is Verdict.FASTER  # fmt: skip


def test_stall_threshold_has_a_floor_at_advbase_zero() -> None:
    # (dead_ratio - 1) intervals would be 7.8 ms at 1/256 s: a busy event loop, not a pause
    assert stall_threshold(0, 3, advskew=0) == MIN_STALL_THRESHOLD
    assert stall_threshold(0, 3, advskew=254) == 2 * 254 / 256  # above the floor: the rule
    assert stall_threshold(1, 3) == 2.0  # whole seconds: as before
    assert stall_threshold(1, 1) == 1.0
    assert new_machine(advbase=0, advskew=25).stall_threshold == MIN_STALL_THRESHOLD


def _verdict(our: tuple[int, int], peer: tuple[int, int], **demotes: int) -> Verdict:
    return judge(
        our_advbase=our[0],
        our_advskew=our[1],
        peer_advbase=peer[0],
        peer_advskew=peer[1],
        dead_ratio=3,
        our_address=OURS,
        peer_address=PEER,
        **demotes,
    )


def test_at_advbase_zero_only_the_bow_out_is_departing() -> None:
    # OpenBSD skips "bound to time out" at advbase 0: our master-down (0.29 s) is shorter
    # than any whole-second peer's interval, which would otherwise all count as departing.
    assert _verdict((0, 25), (1, 0)) is Verdict.SLOWER
    assert _verdict((0, 25), (255, 254)) is Verdict.SLOWER
    assert _verdict((0, 25), (BOW_OUT_ADVBASE, BOW_OUT_ADVSKEW)) is Verdict.DEPARTING
    assert _verdict((0, 25), (0, 10)) is Verdict.FASTER
    assert _verdict((1, 0), (0, 254)) is Verdict.FASTER  # a sub-second peer is always faster
    assert _verdict((1, 0), (4, 0)) is Verdict.DEPARTING  # whole seconds: the rule stands


def _backup(machine: GroupMachine, now: float) -> GroupMachine:
    machine.handle(ev.Started(link_up=True), now)
    return machine


def test_a_sub_second_backup_takes_over_three_intervals_after_the_last_advert() -> None:
    segment = Segment()
    master = segment.join(group_settings(source=LOWER_PEER, advbase=0, advskew=25), seed=1)
    backup = segment.join(group_settings(source=HIGHER_PEER, advbase=0, advskew=50), seed=2)
    segment.run_until(5.0)
    assert (master.state, backup.state) == (State.MASTER, State.BACKUP)
    adverts = [t for t, m, a in segment.log if m is master and isinstance(a, SendAdvertisement)]
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(adverts[-10:])}
    assert gaps == {round(25 / 256, 9)}  # every 0.098 s
    last = adverts[-1]
    segment.kill(master)
    segment.run_until(10.0)
    takeover = [
        t
        for t, m, a in segment.log
        if m is backup and isinstance(a, StateChanged) and a.new is State.MASTER
    ]
    assert takeover == [pytest.approx(last + 3 * 50 / 256)]  # 0.586 s after its last advert


def test_a_sub_second_backup_hearing_a_bow_out_takes_over_after_its_own_interval() -> None:
    machine = _backup(new_machine(advbase=0, advskew=50), 0.0)
    bow_out = signed_advert(machine.settings, advbase=BOW_OUT_ADVBASE, advskew=BOW_OUT_ADVSKEW)
    assert machine.handle(received(bow_out), 0.1) == []
    assert machine.next_deadline == pytest.approx(0.1 + 50 / SKEW_UNIT)
    machine.handle(ev.TimerExpired(), 0.1 + 50 / SKEW_UNIT)
    assert machine.state is State.MASTER


def test_a_sub_second_master_advertises_advbase_zero() -> None:
    machine = _backup(new_machine(advbase=0, advskew=0), 0.0)
    assert machine.next_deadline == 3 / 256
    advert = sent(machine.handle(ev.TimerExpired(), 3 / 256))[0]
    decoded = wire.decode(advert.payload)
    assert (decoded.advbase, decoded.advskew) == (0, 0)
    assert machine.next_deadline == pytest.approx(4 / 256)


def test_a_whole_second_peer_accepts_a_sub_second_advert_as_faster() -> None:
    machine = _backup(new_machine(advbase=1, preempt=True), 0.0)
    machine.handle(received(signed_advert(machine.settings, advbase=0, advskew=200)), 1.0)
    assert machine.state is State.BACKUP
    assert machine.stats.total == 0
    assert machine.next_deadline == 1.0 + 3.0


# -- the demote byte ------------------------------------------------------------------------


def test_the_demote_byte_decides_before_timing() -> None:
    # OpenBSD: a lower count wins whatever the timing, a higher one loses whatever the timing
    assert _verdict((1, 0), (1, 200), our_demote=2, peer_demote=1) is Verdict.FASTER
    assert _verdict((1, 200), (1, 0), our_demote=1, peer_demote=2) is Verdict.SLOWER
    assert _verdict((1, 0), (1, 100), our_demote=3, peer_demote=3) is Verdict.SLOWER
    # a lower count beats "bound to time out", a bow-out is a bow-out whatever its byte
    assert _verdict((1, 0), (5, 0), our_demote=1, peer_demote=0) is Verdict.FASTER
    assert _verdict((1, 0), (5, 0), our_demote=0, peer_demote=1) is Verdict.DEPARTING
    assert _verdict((1, 0), (255, 255), our_demote=9, peer_demote=0) is Verdict.DEPARTING


def test_byte_mode_sends_the_demotion_in_pad1_and_keeps_advskew() -> None:
    machine = _backup(new_machine(advskew=10, demote_on_wire=DemoteOnWire.BYTE), 0.0)
    machine.handle(ev.DemotionChanged(demotion=300), 0.5)
    assert (machine.advskew_on_wire, machine.demote_on_wire) == (10, 255)  # capped at a byte
    machine.handle(ev.DemotionChanged(demotion=-5), 0.6)
    assert machine.demote_on_wire == 0  # a negative demotion sends 0
    machine.handle(ev.DemotionChanged(demotion=7), 0.7)
    forced = machine.handle(ev.AdminForced(state=ev.ForcedState.MASTER), 1.0)
    decoded = wire.decode(sent(forced)[0].payload)
    assert (decoded.advskew, decoded.demote) == (10, 7)


def test_advskew_mode_sends_a_zero_byte() -> None:
    machine = _backup(new_machine(advskew=10), 0.0)
    machine.handle(ev.DemotionChanged(demotion=30), 0.5)
    forced = machine.handle(ev.AdminForced(state=ev.ForcedState.MASTER), 1.0)
    decoded = wire.decode(sent(forced)[0].payload)
    assert (decoded.advskew, decoded.demote) == (40, 0)


def test_a_backup_takes_over_from_a_more_demoted_master_without_preempt() -> None:
    machine = _backup(new_machine(advskew=100), 0.0)
    assert not machine.settings.preempt
    faster_but_demoted = signed_advert(machine.settings, advskew=0, demote=1)
    actions = machine.handle(received(faster_but_demoted), 1.0)
    assert machine.state is State.MASTER
    change = actions[0]
    assert isinstance(change, StateChanged)
    assert "demote 1" in change.reason


def test_a_master_yields_to_a_less_demoted_peer_whatever_its_timing() -> None:
    machine = _backup(new_machine(advskew=0, demote_on_wire=DemoteOnWire.BYTE), 0.0)
    machine.handle(ev.DemotionChanged(demotion=2), 0.1)
    machine.handle(ev.AdminForced(state=ev.ForcedState.MASTER), 0.2)
    slower_but_healthy = signed_advert(machine.settings, advskew=200, demote=0)
    machine.handle(received(slower_but_healthy), 0.5)
    assert machine.state is State.BACKUP


def test_an_advskew_mode_node_compares_with_the_zero_it_sends() -> None:
    """Demoted in advskew mode it sends byte 0: an undemoted kernel peer (byte 0) is compared
    by timing, where our demotion already counts, so we lose to it as FreeBSD would."""
    machine = _backup(new_machine(advskew=0), 0.0)
    machine.handle(ev.DemotionChanged(demotion=100), 0.1)
    machine.handle(ev.AdminForced(state=ev.ForcedState.MASTER), 0.2)
    healthy = signed_advert(machine.settings, advskew=50, demote=0)
    machine.handle(received(healthy), 0.5)
    assert machine.state is State.BACKUP  # 50 < our 100 on the wire


def test_a_byte_blind_node_ignores_the_byte() -> None:
    machine = _backup(new_machine(advskew=100, honour_demote_byte=False), 0.0)
    machine.handle(received(signed_advert(machine.settings, advskew=0, demote=9)), 1.0)
    assert machine.state is State.BACKUP
    assert machine.last_demote == 0


def test_byte_mode_needs_the_byte_honoured() -> None:
    with pytest.raises(SettingsError, match="honour_demote_byte"):
        group_settings(demote_on_wire=DemoteOnWire.BYTE, honour_demote_byte=False)
    with pytest.raises(SettingsError, match="demote_on_wire"):
        group_settings(demote_on_wire="byte")


# -- convergence: no two masters both stand their ground ------------------------------------

_NODE = st.tuples(
    st.sampled_from(["freebsd", "openbsd", "pycarp-advskew", "pycarp-byte"]),
    st.integers(0, 8),  # advbase (0 = sub-second)
    st.integers(0, 254),  # configured advskew
    st.integers(0, 300),  # demotion
)


def _on_wire(node: tuple[str, int, int, int]) -> tuple[int, int, int, bool]:
    """(advbase, advskew, demote byte, honours the byte) as the node sends and reads them."""
    kind, advbase, advskew, demotion = node
    if kind in ("openbsd", "pycarp-byte"):
        return advbase, advskew, min(demotion, 255), True
    return advbase, min(advskew + demotion, max(advskew, 240)), 0, kind != "freebsd"


def _stands(me: tuple[int, int, int, bool], other: tuple[int, int, int, bool], ours: object,
            theirs: object) -> bool:  # fmt: skip
    honours = me[3]
    verdict = judge(
        our_advbase=me[0],
        our_advskew=me[1],
        peer_advbase=other[0],
        peer_advskew=other[1],
        dead_ratio=3,
        our_address=ours,  # type: ignore[arg-type]
        peer_address=theirs,  # type: ignore[arg-type]
        our_demote=me[2] if honours else 0,
        peer_demote=other[2] if honours else 0,
    )
    return verdict in (Verdict.SLOWER, Verdict.EQUAL_WE_WIN, Verdict.DEPARTING)


@given(_NODE, _NODE)
def test_two_masters_never_both_stand_their_ground(
    a: tuple[str, int, int, int], b: tuple[str, int, int, int]
) -> None:
    """Whatever mix of FreeBSD (byte-blind), OpenBSD and pycarp in either mode: when two masters
    hear each other, at least one of them yields. (The timing tie-break is by address.)"""
    wa, wb = _on_wire(a), _on_wire(b)
    assert not (_stands(wa, wb, OURS, PEER) and _stands(wb, wa, PEER, OURS))


def test_settings_repr_shows_the_new_fields() -> None:
    settings: GroupSettings = group_settings(advbase=0, demote_on_wire=DemoteOnWire.BYTE)
    assert "advbase=0" in repr(settings)
    assert "DemoteOnWire.BYTE" in repr(settings)


def test_at_advbase_zero_a_backup_waits_for_three_of_the_masters_intervals() -> None:
    """OpenBSD's backup waits 3 of its own intervals; a backup at advskew 10 (0.12 s) behind a
    master at advskew 200 (0.78 s) would take over between every two adverts. pycarp waits at
    least 3 of the master's intervals, as VRRPv3 learns the master's interval."""
    machine = _backup(new_machine(advbase=0, advskew=10), 0.0)
    assert machine.master_down_interval == 30 / 256
    machine.handle(received(signed_advert(machine.settings, advbase=0, advskew=200)), 0.05)
    assert machine.master_down_interval == 600 / 256
    assert machine.next_deadline == pytest.approx(0.05 + 600 / 256)
    assert machine.state is State.BACKUP
    # a bow-out is not an interval to learn
    machine.last_timing = (BOW_OUT_ADVBASE, BOW_OUT_ADVSKEW)
    assert machine.master_down_interval == 30 / 256
    # whole seconds: FreeBSD's formula, whatever the master sends
    whole = _backup(new_machine(advbase=1, advskew=10), 0.0)
    whole.handle(received(signed_advert(whole.settings, advbase=5, advskew=0)), 0.5)
    assert whole.master_down_interval == 3 + 10 / 256


def test_a_fast_but_demoted_sub_second_backup_does_not_flap() -> None:
    segment = Segment()
    healthy = segment.join(group_settings(source=LOWER_PEER, advbase=0, advskew=200), seed=1)
    segment.run_until(3.0)
    assert healthy.state is State.MASTER
    demoted = segment.join(
        group_settings(source=HIGHER_PEER, advbase=0, advskew=10, demote_on_wire=DemoteOnWire.BYTE),
        seed=2,
    )
    segment.host(demoted).demote("=", 5, segment.now)
    segment.run_until(30.0)
    changes = [a for t, m, a in segment.log if m is demoted and isinstance(a, StateChanged)]
    # Started, and before the master's first advert reached it (0.78 s apart) its own
    # master-down (0.12 s) expired once; since then it waits for 3 of the master's intervals.
    assert [c.new for c in changes] == [State.BACKUP, State.MASTER, State.BACKUP]
    assert healthy.state is State.MASTER


def test_status_explains_sub_second_intervals_and_demote_counts() -> None:
    master = _backup(new_machine(advbase=0, advskew=25), 0.0)
    master.handle(ev.AdminForced(state=ev.ForcedState.MASTER), 0.1)
    assert why(master, "forced").endswith("we advertise every 0.098 s")
    backup = _backup(new_machine(advbase=0, advskew=25), 0.0)
    backup.handle(received(signed_advert(backup.settings, advbase=0, advskew=200)), 0.1)
    assert why(backup, "started").startswith(f"{LOWER_PEER} advertises every 0.781 s, slower")
    demoted = _backup(new_machine(advskew=100, demote_on_wire=DemoteOnWire.BYTE), 0.0)
    demoted.handle(ev.DemotionChanged(demotion=4), 0.1)
    demoted.handle(received(signed_advert(demoted.settings, advskew=200, demote=1)), 0.2)
    assert why(demoted, "started") == (
        f"{LOWER_PEER} advertises every 1.78 s with demote count 1 (ours 4): "
        "the lower demote count wins whatever the timing"
    )
