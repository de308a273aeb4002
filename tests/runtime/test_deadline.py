"""A group's deadline timer (runtime/deadline.py): lazy when the deadline moves later, and a
takeover computed ahead of its deadline whose advert still never leaves before it.

On the wall clock with the real timerfd (the only precise timers). ``TAKEOVER_LEAD`` is made
0.2 s here, so that "ahead" and "on time" are told apart by far more than a loaded machine's
scheduling noise.
"""

from __future__ import annotations

import asyncio

import pytest

from pycarp.core.table import State
from pycarp.core.timing import master_down_interval
from pycarp.runtime import deadline as deadline_module
from pycarp.runtime.deadline import DeadlineTimer
from pycarp.runtime.timers import TimerfdTimers, timers_for

from .fakes import FakeHost, FakeSegment
from .support import Node, group, run_on_wall_clock, running, wait_until

LEAD = 0.2


@pytest.fixture(autouse=True)
def long_lead(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deadline_module, "TAKEOVER_LEAD", LEAD)


def _timerfd(loop: asyncio.AbstractEventLoop) -> TimerfdTimers:
    made = timers_for(loop)
    if not isinstance(made, TimerfdTimers):
        pytest.skip("no timerfd on this system")
    return made


Call = tuple[float, bool, float]  # (deadline, ahead, the loop's clock then)


async def _calls(arrange: str) -> tuple[float, list[Call]]:
    loop = asyncio.get_running_loop()
    timers = _timerfd(loop)
    calls: list[Call] = []
    timer = DeadlineTimer(
        timers,
        loop,
        lambda deadline, ahead: calls.append((deadline, ahead, loop.time())),
        busy=lambda: arrange == "worker busy",
    )
    due = loop.time() + 0.3
    if arrange == "takeover":
        timer.set(due, takeover=True)
    elif arrange == "advert":
        timer.set(due)
    elif arrange == "worker busy":
        timer.set(due, takeover=True)
    elif arrange == "another first":
        timers.call_at(due - 0.01, lambda: None)
        timer.set(due, takeover=True)
    elif arrange == "moved later":
        timer.set(due - 0.2, takeover=True)
        timer.set(due, takeover=True)  # before the first would have fired
    await asyncio.sleep(0.45)
    timers.close()
    return due, calls


def test_a_takeover_is_due_ahead_and_holding_reaches_its_deadline() -> None:
    async def scenario() -> tuple[float, list[Call], float]:
        due, calls = await _calls("takeover")
        loop = asyncio.get_running_loop()
        timer = DeadlineTimer(_timerfd(loop), loop, lambda _d, _a: None)
        soon = loop.time() + 0.05
        timer.hold_until_due(soon)
        return due, calls, loop.time() - soon

    due, calls, after_hold = run_on_wall_clock(scenario())
    ((deadline, ahead, at),) = calls
    assert (deadline, ahead) == (due, True)
    assert due - LEAD <= at < due
    assert after_hold >= 0


@pytest.mark.parametrize("arrange", ["advert", "another first", "worker busy"])
def test_no_lead_for_an_advert_another_deadline_first_or_a_busy_worker(arrange: str) -> None:
    due, calls = run_on_wall_clock(_calls(arrange))
    ((deadline, ahead, at),) = calls
    assert (deadline, ahead) == (due, False)
    assert at >= due


def test_a_deadline_moved_later_is_served_once_at_the_later_time() -> None:
    due, calls = run_on_wall_clock(_calls("moved later"))
    ((deadline, ahead, at),) = calls
    assert (deadline, ahead) == (due, True)
    assert due - LEAD <= at < due


def test_the_takeover_advert_never_leaves_before_its_deadline() -> None:
    """A whole daemon on the real timerfd: the takeover runs up to 0.2 s ahead, its advert
    waits; the silence is at least the master-down interval from the last advert read."""

    async def scenario() -> None:
        segment = FakeSegment()
        master = Node(FakeHost("198.51.100.1", {"eth0": segment}), [group(source="198.51.100.1")])
        backup = Node(
            FakeHost("198.51.100.2", {"eth0": segment}),
            [group(source="198.51.100.2", advskew=100)],
        )
        down = master_down_interval(1, 100, 1)
        async with running(master, backup):
            await wait_until(lambda: backup.state() is State.BACKUP, 5, "backup")
            await wait_until(lambda: master.state() is State.MASTER, 5, "master")
            await asyncio.sleep(1.5)
            master.crash()
            last = segment.adverts(source=master.host.source)[-1].at
            await wait_until(lambda: backup.state() is State.MASTER, 5, "takeover")
            first = segment.adverts(source=backup.host.source)[0].at
            # Read after the fake segment's latency: the deadline is a little later still.
            assert down + segment.latency <= first - last < down + segment.latency + LEAD / 2

    run_on_wall_clock(scenario())
