"""A master's adverts keep their schedule: each is armed from the previous deadline, not from
the (late) moment the timer ran, so the wake-up lateness does not add up (issue 9, item 5)."""

from __future__ import annotations

import random

import pytest

from pycarp.core import events as ev
from pycarp.core.actions import SendAdvertisement
from pycarp.core.machine import ON_SCHEDULE_LATENESS, GroupMachine
from pycarp.core.settings import GroupSettings, Protocol
from pycarp.core.table import State

from .support import OUR_SOURCE, VIRTUAL, new_machine, received, sent, signed_advert

LATE = 0.003  # a busy event loop's lateness


def _master(machine: GroupMachine, late: float = 0.0) -> GroupMachine:
    machine.handle(ev.Started(), 0.0)
    assert machine.next_deadline is not None
    machine.handle(ev.TimerExpired(), machine.next_deadline + late)
    assert machine.state is State.MASTER
    return machine


def _tick(machine: GroupMachine, late: float) -> float:
    """Fire the timer ``late`` seconds after its deadline; the time it ran."""
    assert machine.next_deadline is not None
    now = machine.next_deadline + late
    assert len(sent(machine.handle(ev.TimerExpired(), now))) == 1
    return now


def test_late_wake_ups_do_not_drift_the_schedule() -> None:
    machine = _master(new_machine(advskew=0))
    start = machine.next_deadline
    assert start is not None
    for _ in range(100):
        _tick(machine, LATE)
    # 100 intervals later the schedule is where it started plus 100 intervals, not 0.3 s on.
    assert machine.next_deadline == pytest.approx(start + 100 * 1.0)


def test_a_takeover_arms_from_the_moment_it_happened() -> None:
    machine = new_machine(advskew=64)
    machine.handle(ev.Started(), 0.0)
    assert machine.next_deadline is not None
    taken_at = machine.next_deadline + 0.004
    machine.handle(ev.TimerExpired(), taken_at)
    assert machine.next_deadline == pytest.approx(taken_at + 1.25)


def test_a_wake_up_later_than_half_an_interval_restarts_the_schedule_from_now() -> None:
    machine = _master(new_machine(advskew=0))
    ran = _tick(machine, ON_SCHEDULE_LATENESS * 1.0 + 0.01)
    assert machine.next_deadline == pytest.approx(ran + 1.0)


def test_a_wake_up_just_within_half_an_interval_keeps_the_schedule() -> None:
    machine = _master(new_machine(advskew=0))
    due = machine.next_deadline
    assert due is not None
    _tick(machine, ON_SCHEDULE_LATENESS * 1.0 - 0.01)
    assert machine.next_deadline == pytest.approx(due + 1.0)


def test_an_answer_to_a_slower_master_restarts_the_schedule_from_now() -> None:
    machine = _master(new_machine(advskew=0))
    answered_at = 0.5 + (machine.next_deadline or 0.0) - 1.0
    actions = machine.handle(received(signed_advert(machine.settings, advskew=200)), answered_at)
    assert any(isinstance(a, SendAdvertisement) for a in actions)
    assert machine.next_deadline == pytest.approx(answered_at + 1.0)


def test_a_vrrp3_master_keeps_its_schedule_too() -> None:
    settings = GroupSettings(
        vhid=7,
        passphrase=b"",
        addresses=(VIRTUAL,),
        source=OUR_SOURCE,
        protocol=Protocol.VRRP3,
        priority=100,
        interval=0.05,
    )
    machine = _master(GroupMachine(settings, random.Random(1)))
    start = machine.next_deadline
    assert start is not None
    for _ in range(100):
        _tick(machine, LATE / 10)
    assert machine.next_deadline == pytest.approx(start + 100 * 0.05)
