"""Why a group is in its state, in one sentence (``pycarp status``).

Operators of CARP and VRRP ask "why is this node backup?" more than anything else. The answer
follows from what the machine knows: the last master it heard and its timing, our own timing
with demotion, preemption. Pure: the same election rules as :mod:`pycarp.core.election`.
"""

from __future__ import annotations

from pycarp.core.election import Verdict, judge
from pycarp.core.machine import GroupMachine
from pycarp.core.table import State
from pycarp.core.timing import advertisement_interval, describe_interval


def why(machine: GroupMachine, reason: str, *, maintenance: bool = False) -> str:
    """One sentence; ``reason`` is the one given when the group entered its state."""
    settings = machine.settings
    ours = describe_interval(machine.advertisement_interval)
    preempt = "preempt on" if settings.preempt else "preempt off"
    tail = "; maintenance mode" if maintenance else ""
    if machine.state is State.INIT:
        return f"not taking part: {reason}{tail}"
    peer, timing = machine.last_master, machine.last_timing
    if machine.state is State.MASTER:
        return f"master ({reason}); we advertise every {ours}{tail}"
    if machine.vrrp is not None:
        return _why_vrrp_backup(machine, preempt, tail)
    if peer is None or timing is None:
        return (
            f"no master heard yet: we take over when our master-down timer "
            f"({describe_interval(machine.master_down_interval)}) expires{tail}"
        )
    theirs = describe_interval(advertisement_interval(*timing))
    ours_demote, theirs_demote = machine.demote_on_wire, machine.last_demote
    verdict = judge(
        our_advbase=settings.advbase,
        our_advskew=machine.advskew_on_wire,
        peer_advbase=timing[0],
        peer_advskew=timing[1],
        dead_ratio=settings.dead_ratio,
        our_address=settings.source,
        peer_address=peer,
        our_demote=ours_demote,
        peer_demote=theirs_demote,
    )
    said = f"{peer} advertises every {theirs}"
    if theirs_demote != ours_demote:
        said += f" with demote count {theirs_demote} (ours {ours_demote})"
        if verdict is Verdict.FASTER:
            return f"{said}: the lower demote count wins whatever the timing{tail}"
        if verdict is Verdict.SLOWER:
            return f"{said}: its higher demote count makes us take over{tail}"
    match verdict:
        case Verdict.FASTER:
            return f"{said}, faster than our {ours}; {preempt}{tail}"
        case Verdict.EQUAL_PEER_WINS:
            return f"{said}, as often as we would, and wins the tie on its address{tail}"
        case Verdict.EQUAL_WE_WIN:
            return f"{said}, as often as we would; we win the tie on our address{tail}"
        case Verdict.SLOWER:
            return f"{said}, slower than our {ours}, but {preempt}{tail}"
        case Verdict.DEPARTING:  # pragma: no branch - exhaustive
            return f"{peer} bowed out: we take over after our own skew{tail}"


def _why_vrrp_backup(machine: GroupMachine, preempt: str, tail: str) -> str:
    """A VRRPv3 backup: priorities, not timing, decide."""
    rules = machine.vrrp
    assert rules is not None
    peer, theirs = machine.last_master, rules.last_priority
    ours = rules.priority(machine.demotion)
    if peer is None or theirs is None:
        return (
            f"no active router heard yet: we take over when our down timer "
            f"({machine.master_down_interval:.2f} s) expires{tail}"
        )
    said = f"{peer} is active with priority {theirs}"
    if theirs == 0:
        return f"{peer} is leaving (priority 0): we take over after our skew{tail}"
    if theirs > ours:
        return f"{said}, above our {ours}{tail}"
    if theirs == ours:
        return f"{said}, as ours, and wins the tie on its higher address{tail}"
    return f"{said}, below our {ours}, but {preempt}{tail}"
