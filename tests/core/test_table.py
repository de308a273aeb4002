"""Every (state, input) pair of the transition table, driven through a real GroupMachine.

For each pair the test puts a machine into the state, feeds an event that the machine maps to
that input, and checks the outcome (state afterwards, actions, next deadline) against what the
table's Step means. Changing a table cell therefore changes what this test expects; a machine
that stops following its table fails it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from pycarp.core import events as ev
from pycarp.core.actions import (
    Action,
    Announce,
    ClaimAddresses,
    Hook,
    PacketDropped,
    ReleaseAddresses,
    RunHook,
    SendAdvertisement,
    State,
    StateChanged,
)
from pycarp.core.constants import IPAddress
from pycarp.core.machine import GroupMachine
from pycarp.core.table import TRANSITIONS, Input, Step, render

from .support import HIGHER_PEER, LOWER_PEER, kinds, new_machine, received, signed_advert

OUR_ADVSKEW = 100  # so a peer can be faster (0), equal (100) or slower (200) than us
START_AT = 10.0
EVENT_AT = 10.25


def test_the_table_is_total() -> None:
    assert len(TRANSITIONS) == len(State) * len(Input)
    assert set(TRANSITIONS) == {(s, i) for s in State for i in Input}
    assert all(isinstance(step, Step) for step in TRANSITIONS.values())


def test_every_step_is_used() -> None:
    assert set(TRANSITIONS.values()) == set(Step)


def test_render_shows_every_cell() -> None:
    lines = render().splitlines()
    assert len(lines) == 1 + len(Input)
    assert lines[0].split() == ["input", *(s.value for s in State)]
    for line, inp in zip(lines[1:], Input, strict=True):
        assert line.split() == [inp.value, *(TRANSITIONS[(s, inp)].value for s in State)]


def _machine_in(state: State, *, preempt: bool = False) -> GroupMachine:
    machine = new_machine(advskew=OUR_ADVSKEW, preempt=preempt)
    machine.handle(ev.Started(link_up=state is not State.INIT), START_AT)
    if state is State.MASTER:
        assert machine.next_deadline is not None
        machine.handle(ev.TimerExpired(), machine.next_deadline)
    assert machine.state is state
    return machine


def _advert(
    advskew: int, source: IPAddress = LOWER_PEER, advbase: int = 1
) -> Callable[[GroupMachine], ev.Event]:
    def build(machine: GroupMachine) -> ev.Event:
        payload = signed_advert(machine.settings, advbase=advbase, advskew=advskew)
        return received(payload, source=source)

    return build


def _corrupt(machine: GroupMachine) -> ev.Event:
    payload = bytearray(signed_advert(machine.settings))
    payload[30] ^= 0xFF
    return received(bytes(payload))


EVENT_FOR: dict[Input, Callable[[GroupMachine], ev.Event]] = {
    Input.STARTED: lambda m: ev.Started(),
    Input.TIMER: lambda m: ev.TimerExpired(),
    Input.LINK_UP: lambda m: ev.LinkChanged(up=True),
    Input.LINK_DOWN: lambda m: ev.LinkChanged(up=False),
    Input.FORCE_MASTER: lambda m: ev.AdminForced(state=ev.ForcedState.MASTER),
    Input.FORCE_BACKUP: lambda m: ev.AdminForced(state=ev.ForcedState.BACKUP),
    Input.SHUTDOWN: lambda m: ev.ShutdownRequested(),
    Input.HAND_OVER: lambda m: ev.HandOverRequested(reason="maintenance"),
    Input.DEMOTION: lambda m: ev.DemotionChanged(demotion=20),
    Input.SEND_RESULT: lambda m: ev.SendCompleted(ok=False),
    Input.SEND_BROKEN: lambda m: ev.SendCompleted(ok=False, error="[Errno 22] Invalid argument"),
    Input.PACKET_INVALID: _corrupt,
    Input.ADV_FASTER: _advert(0),
    Input.ADV_EQUAL_PEER_WINS: _advert(OUR_ADVSKEW, LOWER_PEER),
    Input.ADV_EQUAL_WE_WIN: _advert(OUR_ADVSKEW, HIGHER_PEER),
    Input.ADV_SLOWER: _advert(200),
    Input.ADV_DEPARTING: _advert(255, advbase=255),
    Input.STALLED: lambda m: ev.TimerExpired(),  # fed long after the deadline, see below
}

_BECOME_MASTER = [StateChanged, ClaimAddresses, SendAdvertisement, Announce, RunHook]
_STEP_DOWN = [StateChanged, ReleaseAddresses, RunHook]


@dataclasses.dataclass(frozen=True)
class Outcome:
    state: State
    actions: list[type[Action]]
    deadline: str  # "same", "master_down", "advert" or "none"


def _expected(step: Step, before: State, preempt: bool) -> Outcome:
    """What each Step means, written down independently of the machine's code."""
    match step:
        case Step.IGNORE | Step.UPDATE_DEMOTION | Step.COUNT_SEND_RESULT:
            return Outcome(before, [], "same")
        case Step.DROP:
            return Outcome(before, [PacketDropped], "same")
        case Step.START:
            return Outcome(State.BACKUP, [StateChanged, ReleaseAddresses, RunHook], "master_down")
        case Step.JOIN:
            return Outcome(State.BACKUP, [StateChanged], "master_down")
        case Step.RESTART_MASTER_DOWN:
            return Outcome(State.BACKUP, [], "master_down")
        case Step.PREEMPT_OR_RESTART if preempt:
            return Outcome(State.MASTER, _BECOME_MASTER, "advert")
        case Step.PREEMPT_OR_RESTART:
            return Outcome(State.BACKUP, [], "master_down")
        case Step.BECOME_MASTER:
            return Outcome(State.MASTER, _BECOME_MASTER, "advert")
        case Step.EXPEDITE:  # OUR_ADVSKEW is not 0: wait advskew/256 s, then the timer decides
            return Outcome(State.BACKUP, [], "skew")
        case Step.ADVERTISE:
            return Outcome(State.MASTER, [SendAdvertisement], "advert")
        case Step.STEP_DOWN:
            return Outcome(State.BACKUP, _STEP_DOWN, "master_down")
        case Step.YIELD:
            return Outcome(State.BACKUP, [SendAdvertisement, *_STEP_DOWN], "master_down")
        case Step.HAND_OVER:
            return Outcome(State.BACKUP, [SendAdvertisement, *_STEP_DOWN], "master_down")
        case Step.REASSERT:
            return Outcome(State.MASTER, [SendAdvertisement, Announce], "advert")
        case Step.LINK_LOST | Step.DISABLE if before is State.MASTER:
            return Outcome(State.INIT, [StateChanged, ReleaseAddresses, RunHook], "none")
        case Step.LINK_LOST | Step.DISABLE:
            return Outcome(State.INIT, [StateChanged], "none")
        case Step.STOP if before is State.MASTER:
            return Outcome(
                State.INIT, [StateChanged, SendAdvertisement, ReleaseAddresses, RunHook], "none"
            )
        case Step.STOP if before is State.BACKUP:
            return Outcome(State.INIT, [StateChanged], "none")
        case Step.STOP:
            return Outcome(State.INIT, [], "none")
    raise AssertionError(step)


PAIRS = sorted(TRANSITIONS, key=lambda pair: (list(State).index(pair[0]), pair[1].value))


@pytest.mark.parametrize("preempt", [False, True], ids=["no-preempt", "preempt"])
@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: f"{p[0].value}-{p[1].value}")
def test_every_state_and_input(pair: tuple[State, Input], preempt: bool) -> None:
    before, inp = pair
    machine = _machine_in(before, preempt=preempt)
    deadline_before = machine.next_deadline
    event = EVENT_FOR[inp](machine)
    now = EVENT_AT
    if inp is Input.TIMER and deadline_before is not None:
        now = deadline_before  # the timer fires exactly when the machine asked for it
    elif inp is Input.STALLED and deadline_before is not None:
        now = deadline_before + machine.stall_threshold + 0.5  # woken long after the deadline
    elif before is State.MASTER:
        now = START_AT + 3.5  # MASTER was reached at START_AT + master-down interval

    actions = machine.handle(event, now)

    expected = _expected(TRANSITIONS[pair], before, preempt)
    assert machine.state is expected.state
    assert kinds(actions) == expected.actions
    deadlines = {
        "same": deadline_before,
        "master_down": now + machine.master_down_interval,
        "advert": now + machine.advertisement_interval,
        "skew": now + OUR_ADVSKEW / 256,
        "none": None,
    }
    assert machine.next_deadline == deadlines[expected.deadline]
    for action in actions:
        if isinstance(action, StateChanged):
            assert (action.old, action.new) == (before, expected.state)
        if isinstance(action, RunHook):
            assert action.hook is (Hook.UP if expected.state is State.MASTER else Hook.DOWN)
        if isinstance(action, SendAdvertisement):
            bows_out = expected.state is State.INIT or TRANSITIONS[pair] is Step.HAND_OVER
            assert action.bow_out is bows_out
