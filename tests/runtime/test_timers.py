"""The groups' timers: the timerfd heap runs what is due, in order, and nothing cancelled."""

from __future__ import annotations

import asyncio
import functools
import os

import pytest

from pycarp.runtime import timers as timers_module
from pycarp.runtime.timers import LoopTimers, TimerfdTimers, timers_for


def _timerfd(loop: asyncio.AbstractEventLoop) -> TimerfdTimers:
    made = timers_for(loop)
    if not isinstance(made, TimerfdTimers):
        pytest.skip("no timerfd on this system")
    return made


def test_due_entries_run_in_deadline_order_and_cancelled_ones_never() -> None:
    async def scenario() -> list[str]:
        loop = asyncio.get_running_loop()
        timers = _timerfd(loop)
        ran: list[str] = []
        start = loop.time()
        timers.call_at(start + 0.03, lambda: ran.append("c"))
        timers.call_at(start + 0.01, lambda: ran.append("a"))
        dropped = timers.call_at(start + 0.005, lambda: ran.append("cancelled"))
        timers.call_at(start + 0.02, lambda: ran.append("b"))
        dropped.cancel()
        await asyncio.sleep(0.1)
        timers.close()
        return ran

    assert asyncio.run(scenario()) == ["a", "b", "c"]


def test_no_entry_runs_before_its_time() -> None:
    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        timers = _timerfd(loop)
        early: list[float] = []
        start = loop.time()

        def record(when: float) -> None:
            early.append(loop.time() - when)

        for step in range(20):
            when = start + 0.002 * step
            timers.call_at(when, functools.partial(record, when))
        await asyncio.sleep(0.1)
        timers.close()
        return early

    lateness = asyncio.run(scenario())
    assert len(lateness) == 20
    assert min(lateness) >= 0


def test_cancelling_the_earliest_rearms_for_the_next_live_one() -> None:
    """A backup's deadline, pushed back by every advert, must not wake us for a stale one."""

    async def scenario() -> tuple[float | None, float]:
        loop = asyncio.get_running_loop()
        timers = _timerfd(loop)
        start = loop.time()
        first = timers.call_at(start + 5, lambda: None)
        timers.call_at(start + 9, lambda: None)
        first.cancel()
        armed = timers._armed_for
        timers.close()
        return armed, start + 9

    armed, expected = asyncio.run(scenario())
    assert armed == expected


def test_a_failing_callback_does_not_stop_the_others() -> None:
    async def scenario() -> tuple[list[str], list[str]]:
        loop = asyncio.get_running_loop()
        errors: list[str] = []
        loop.set_exception_handler(lambda _loop, context: errors.append(context["message"]))
        timers = _timerfd(loop)
        ran: list[str] = []
        start = loop.time()

        def broken() -> None:
            raise RuntimeError("bug")

        timers.call_at(start + 0.01, broken)
        timers.call_at(start + 0.01, lambda: ran.append("after"))
        timers.call_at(start + 0.03, lambda: ran.append("later"))
        await asyncio.sleep(0.08)
        timers.close()
        return ran, errors

    ran, errors = asyncio.run(scenario())
    assert ran == ["after", "later"]
    assert errors == ["timer callback failed"]


def test_many_cancelled_entries_are_compacted() -> None:
    async def scenario() -> int:
        loop = asyncio.get_running_loop()
        timers = _timerfd(loop)
        start = loop.time()
        timers.call_at(start + 1, lambda: None)  # the earliest stays: no re-arm on cancel
        for step in range(1000):
            timers.call_at(start + 2 + step, lambda: None).cancel()
        size = len(timers._heap)
        timers.close()
        return size

    assert asyncio.run(scenario()) <= timers_module.COMPACT_ABOVE + 2


def test_close_releases_the_descriptor() -> None:
    async def scenario() -> int:
        timers = _timerfd(asyncio.get_running_loop())
        fd = timers._fd
        timers.close()
        return fd

    fd = asyncio.run(scenario())
    with pytest.raises(OSError, match="Bad file descriptor"):
        os.fstat(fd)


def test_a_loop_with_its_own_clock_gets_asyncio_timers() -> None:
    """A virtual-time loop (tests) must keep its clock: the timerfd reads the real one."""

    class VirtualLoop(asyncio.SelectorEventLoop):
        def time(self) -> float:
            return 1000.0

    loop = VirtualLoop()
    try:
        assert isinstance(timers_for(loop), LoopTimers)
    finally:
        loop.close()


def test_a_loop_whose_clock_was_replaced_gets_asyncio_timers() -> None:
    loop = asyncio.SelectorEventLoop()
    try:
        loop.time = lambda: 1000.0  # type: ignore[method-assign]
        assert isinstance(timers_for(loop), LoopTimers)
    finally:
        loop.close()
