"""Every (state, input) pair of the transition table, driven through a real GroupMachine.

For each reachable pair the test puts a machine into the state, feeds an event that the
machine maps to that input (checked first), and checks the outcome (state afterwards, actions,
next deadline) against the cell's target and what its Step means. Changing a table cell
therefore changes what this test expects; a machine that stops following its table fails it.
The cells marked unreachable are checked the other way: no event, at any time, maps to them.
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
    StateChanged,
)
from pycarp.core.constants import IPAddress
from pycarp.core.machine import GroupMachine
from pycarp.core.table import TRANSITIONS, UNREACHABLE, Input, State, Step, render, render_dot

from .support import HIGHER_PEER, LOWER_PEER, kinds, new_machine, received, signed_advert

OUR_ADVSKEW = 100  # so a peer can be faster (0), equal (100) or slower (200) than us
START_AT = 10.0
EVENT_AT = 10.25


def test_the_table_is_total() -> None:
    assert len(TRANSITIONS) == len(State) * len(Input)
    assert set(TRANSITIONS) == {(s, i) for s in State for i in Input}
    assert all(isinstance(cell.step, Step) for cell in TRANSITIONS.values())
    assert all(isinstance(cell.target, State) for cell in TRANSITIONS.values())


def test_every_step_is_used() -> None:
    assert {cell.step for cell in TRANSITIONS.values()} == set(Step)


def test_doing_nothing_never_changes_the_state() -> None:
    for (state, _), cell in TRANSITIONS.items():
        if cell.step in (Step.IGNORE, Step.UNREACHABLE, Step.DROP, Step.UPDATE_DEMOTION):
            assert cell.target is state


def test_render_shows_every_cell_with_its_target() -> None:
    lines = render().splitlines()
    assert len(lines) == 1 + len(Input)
    assert lines[0].split() == ["input", *(s.value for s in State)]
    for line, inp in zip(lines[1:], Input, strict=True):
        expected = [inp.value]
        for state in State:
            cell = TRANSITIONS[(state, inp)]
            expected.append(cell.step.value)
            if cell.target is not state:
                expected += ["->", cell.target.value]
        assert line.split() == expected


def test_render_dot_draws_every_cell_that_does_something() -> None:
    dot = render_dot()
    assert dot.startswith("digraph carp {")
    assert dot.endswith("}")
    edges = [line for line in dot.splitlines() if "->" in line]
    drawn = set()
    for line in edges:
        ends, label = line.split(" [label=")
        source, target = (part.strip().strip('"') for part in ends.split("->"))
        step, *inputs = label.strip('"];').split("\\n")
        for inp in inputs:
            drawn.add((State(source), Input(inp), State(target), Step(step)))
    expected = {
        (state, inp, cell.target, cell.step)
        for (state, inp), cell in TRANSITIONS.items()
        if cell.step not in (Step.IGNORE, Step.UNREACHABLE)
    }
    assert drawn == expected


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
    Input.STARTED_NO_CARRIER: lambda m: ev.Started(link_up=False),
    Input.TIMER: lambda m: ev.TimerExpired(),
    Input.LINK_UP: lambda m: ev.LinkChanged(up=True),
    Input.LINK_UP_STOPPED: lambda m: ev.LinkChanged(up=True),  # after a shutdown, see below
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
    Input.ADV_SLOWER: _advert(200),  # with preempt off
    Input.ADV_SLOWER_PREEMPT: _advert(200),  # with preempt on
    Input.ADV_DEPARTING: _advert(255, advbase=255),
    Input.STALLED: lambda m: ev.TimerExpired(),  # fed long after the deadline, see below
}

_BECOME_MASTER = [StateChanged, ClaimAddresses, SendAdvertisement, Announce, RunHook]
_STEP_DOWN = [StateChanged, ReleaseAddresses, RunHook]


@dataclasses.dataclass(frozen=True)
class Outcome:
    state: State
    actions: list[type[Action]]
    deadline: str  # "same", "master_down", "advert", "skew" or "none"


def _expected(step: Step, inp: Input, before: State) -> Outcome:
    """What each Step means, written down independently of the machine's code and the table."""
    match step:
        case Step.IGNORE | Step.UPDATE_DEMOTION | Step.COUNT_SEND_RESULT:
            return Outcome(before, [], "same")
        case Step.DROP:
            return Outcome(before, [PacketDropped], "same")
        case Step.START if inp is Input.STARTED_NO_CARRIER:
            return Outcome(State.INIT, [ReleaseAddresses, RunHook], "same")
        case Step.START:
            return Outcome(State.BACKUP, [StateChanged, ReleaseAddresses, RunHook], "master_down")
        case Step.JOIN:
            return Outcome(State.BACKUP, [StateChanged], "master_down")
        case Step.RESTART_MASTER_DOWN:
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


def _order(pair: tuple[State, Input]) -> tuple[int, str]:
    return (list(State).index(pair[0]), pair[1].value)


REACHABLE = sorted(set(TRANSITIONS) - UNREACHABLE, key=_order)
NEVER_REACHED = sorted(UNREACHABLE, key=_order)


def _prepared(before: State, inp: Input) -> GroupMachine:
    machine = _machine_in(before, preempt=inp is Input.ADV_SLOWER_PREEMPT)
    if inp is Input.LINK_UP_STOPPED:  # carrier back on a group that was stopped
        machine.handle(ev.ShutdownRequested(), START_AT)
    return machine


def _time_of(inp: Input, before: State, machine: GroupMachine) -> float:
    deadline = machine.next_deadline
    if inp is Input.TIMER and deadline is not None:
        return deadline  # the timer fires exactly when the machine asked for it
    if inp is Input.STALLED and deadline is not None:
        return deadline + machine.stall_threshold + 0.5  # woken long after the deadline
    if before is State.MASTER:
        return START_AT + 3.5  # MASTER was reached at START_AT + master-down interval
    return EVENT_AT


@pytest.mark.parametrize("pair", REACHABLE, ids=lambda p: f"{p[0].value}-{p[1].value}")
def test_every_reachable_state_and_input(pair: tuple[State, Input]) -> None:
    before, inp = pair
    machine = _prepared(before, inp)
    deadline_before = machine.next_deadline
    event = EVENT_FOR[inp](machine)
    now = _time_of(inp, before, machine)
    if inp is not Input.STALLED:  # the event really is this input (asked of a twin machine)
        twin = _prepared(before, inp)
        classified = twin.classify(EVENT_FOR[inp](twin), now)
        assert classified is not None
        assert classified.input is inp

    actions = machine.handle(event, now)

    cell = TRANSITIONS[pair]
    expected = _expected(cell.step, inp, before)
    assert expected.state is cell.target  # the step does what the table says it leads to
    assert machine.state is cell.target
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
            assert (action.old, action.new) == (before, cell.target)
        if isinstance(action, RunHook):
            assert action.hook is (Hook.UP if cell.target is State.MASTER else Hook.DOWN)
        if isinstance(action, SendAdvertisement):
            bows_out = cell.target is State.INIT or cell.step is Step.HAND_OVER
            assert action.bow_out is bows_out


def _stopped_by(event: Callable[[GroupMachine], ev.Event]) -> Callable[[], GroupMachine]:
    def build() -> GroupMachine:
        machine = _machine_in(State.BACKUP)
        machine.handle(event(machine), EVENT_AT)
        return machine

    return build


def _ways_to_be_in(state: State) -> list[Callable[[], GroupMachine]]:
    """Every way to be in a state: INIT fresh, waiting for carrier, after carrier loss,
    stopped, disabled; BACKUP and MASTER with preempt off and on."""
    if state is not State.INIT:
        return [lambda: _machine_in(state), lambda: _machine_in(state, preempt=True)]
    return [
        lambda: new_machine(advskew=OUR_ADVSKEW),
        lambda: _machine_in(State.INIT),
        _stopped_by(EVENT_FOR[Input.LINK_DOWN]),
        _stopped_by(EVENT_FOR[Input.SHUTDOWN]),
        _stopped_by(EVENT_FOR[Input.SEND_BROKEN]),
    ]


@pytest.mark.parametrize("pair", NEVER_REACHED, ids=lambda p: f"{p[0].value}-{p[1].value}")
def test_unreachable_cells_are_unreachable(pair: tuple[State, Input]) -> None:
    """No event, at any time, is this input in this state (the STALLED input comes from an
    overdue timer, so for it: the timer is never overdue)."""
    state, inp = pair
    times = [EVENT_AT, START_AT + 3.5, START_AT + 100.0, START_AT + 10_000.0]
    for build in _ways_to_be_in(state):
        for make_event in EVENT_FOR.values():
            for now in times:
                machine = build()
                assert machine.state is state
                if inp is Input.STALLED:
                    assert not machine.timer_overdue(now)
                    continue
                classified = machine.classify(make_event(machine), now)
                assert classified is None or classified.input is not inp


def test_a_bow_out_heard_with_advskew_0_takes_over_in_the_same_call() -> None:
    machine = new_machine(advskew=0)
    machine.handle(ev.Started(), START_AT)
    actions = machine.handle(_advert(255, advbase=255)(machine), EVENT_AT)
    assert machine.state is State.MASTER
    changed = [a for a in actions if isinstance(a, StateChanged)]
    assert [(c.old, c.new, c.cause) for c in changed] == [(State.BACKUP, State.MASTER, "bow_out")]
