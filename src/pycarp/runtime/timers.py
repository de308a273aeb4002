"""The groups' deadline timers: asyncio's, or one timerfd that wakes on the microsecond.

asyncio waits in ``epoll_wait`` with a timeout in whole milliseconds, rounded up, and Linux
lets such a timeout slip by 0.1 % of its length for a normal task (``select_estimate_accuracy``):
a backup's 3.39 s master-down timer woke 3.4-4.3 ms late, and a master's 1 s advert ~1 ms
late, every time (docs/benchmarks.md, sections 1 and 4). A timerfd armed at an absolute
``CLOCK_MONOTONIC`` time (the clock asyncio's ``loop.time()`` reads) has no such slack and no
rounding: :class:`TimerfdTimers` keeps every group's deadline in one heap and one timerfd
armed to the earliest, so 10,000 groups still cost one file descriptor.

The seam is :func:`timers_for`: a loop whose clock is not the real monotonic clock (a
virtual-time test loop) gets :class:`LoopTimers`, plain ``loop.call_at``, and so does a system
without timerfd. The daemon can also be handed its timers outright.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import heapq
import itertools
import math
import os
from collections.abc import Callable
from typing import Protocol

CLOCK_MONOTONIC = 1  # <linux/time.h>
TFD_NONBLOCK = os.O_NONBLOCK
TFD_CLOEXEC = os.O_CLOEXEC
TFD_TIMER_ABSTIME = 1
COMPACT_ABOVE = 256  # rebuild the heap when more than this many (and half) are cancelled


class Timer(Protocol):
    def cancel(self) -> None: ...


class Timers(Protocol):
    """Call ``callback`` once at loop time ``when`` (or as soon as possible after it).

    ``precise``: callbacks run within a fraction of a millisecond of their time, on the real
    monotonic clock (what lets a takeover be computed ahead and sent on its deadline,
    runtime/deadline.py); ``earliest()``: the time of the next live entry, if known.
    """

    precise: bool

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer: ...

    def earliest(self) -> float | None: ...

    def close(self) -> None: ...


class LoopTimers:
    """asyncio's own timers (millisecond resolution, epoll's slack on long waits)."""

    precise = False

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        return self._loop.call_at(when, callback)

    def earliest(self) -> float | None:
        return None  # asyncio's queue is its own

    def close(self) -> None:
        pass


class _Timespec(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long))


class _Itimerspec(ctypes.Structure):
    _fields_ = (("it_interval", _Timespec), ("it_value", _Timespec))


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    except OSError:
        return None
    if not hasattr(libc, "timerfd_create") or not hasattr(libc, "timerfd_settime"):
        return None
    libc.timerfd_create.argtypes = (ctypes.c_int, ctypes.c_int)
    libc.timerfd_settime.argtypes = (
        ctypes.c_int,
        ctypes.c_int,
        ctypes.POINTER(_Itimerspec),
        ctypes.c_void_p,
    )
    return libc


class _Entry:
    """One armed deadline; cancelled entries stay in the heap until they surface."""

    __slots__ = ("_owner", "callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None], owner: TimerfdTimers) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False
        self._owner = owner

    def cancel(self) -> None:
        if not self.cancelled:
            self.cancelled = True
            self._owner._cancelled(self)


class TimerfdTimers:
    """Every deadline in one heap, one non-blocking timerfd armed to the earliest live one.

    The timerfd is read by the loop like a socket; when it fires, every entry due by then
    runs in deadline order. Cancelling the earliest entry re-arms the timerfd to the next live
    one, so a backup whose deadline every advert pushes back never wakes for a stale one.
    """

    precise = True

    def __init__(self, loop: asyncio.AbstractEventLoop, libc: ctypes.CDLL) -> None:
        self._loop = loop
        self._libc = libc
        fd = libc.timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)
        if fd < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"timerfd_create: {os.strerror(errno)}")
        self._fd: int = fd
        self._heap: list[tuple[float, int, _Entry]] = []
        self._order = itertools.count()
        self._armed_for: float | None = None
        self._firing = False  # due entries are running: arm once, after them
        self._dead = 0  # cancelled entries still in the heap
        self._spec = _Itimerspec()
        loop.add_reader(fd, self._fire)

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        entry = _Entry(when, callback, self)
        heapq.heappush(self._heap, (when, next(self._order), entry))
        if not self._firing and (self._armed_for is None or when < self._armed_for):
            self._arm(when)
        return entry

    def earliest(self) -> float | None:
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
            self._dead -= 1
        return heap[0][0] if heap else None

    def close(self) -> None:
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
        self._heap.clear()

    def _cancelled(self, entry: _Entry) -> None:
        self._dead += 1
        if self._firing:
            return
        if self._heap and self._heap[0][2] is entry:
            self._rearm()
        elif self._dead > COMPACT_ABOVE and self._dead * 2 > len(self._heap):
            self._heap = [item for item in self._heap if not item[2].cancelled]
            heapq.heapify(self._heap)
            self._dead = 0

    def _fire(self) -> None:
        with contextlib.suppress(BlockingIOError):  # re-armed since it became readable
            os.read(self._fd, 8)
        self._armed_for = None
        self._firing = True
        now = self._loop.time()
        heap = self._heap
        try:
            while heap and heap[0][0] <= now:
                _when, _order, entry = heapq.heappop(heap)
                if entry.cancelled:
                    self._dead -= 1
                    continue
                entry.cancelled = True  # done: a later cancel() is a no-op
                try:
                    entry.callback()
                except Exception as error:  # as asyncio does: say it, run the others
                    self._loop.call_exception_handler(
                        {"message": "timer callback failed", "exception": error}
                    )
        finally:
            self._firing = False
            self._rearm()

    def _rearm(self) -> None:
        """Drop cancelled entries from the top and arm the timerfd for the first live one."""
        first = self.earliest()
        if first is not None:
            self._arm(first)
        elif self._armed_for is not None:
            self._arm(None)

    def _arm(self, when: float | None) -> None:
        """Absolute CLOCK_MONOTONIC time; ``None`` disarms. A time already past fires at once."""
        value = self._spec.it_value
        if when is None:
            value.tv_sec = value.tv_nsec = 0
        else:
            nanoseconds = max(math.ceil(when * 1e9), 1)
            value.tv_sec, value.tv_nsec = divmod(nanoseconds, 1_000_000_000)
        if self._libc.timerfd_settime(self._fd, TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None):
            errno = ctypes.get_errno()
            raise OSError(errno, f"timerfd_settime: {os.strerror(errno)}")
        self._armed_for = when


def timers_for(loop: asyncio.AbstractEventLoop) -> Timers:
    """The precise timers where the loop's clock is the real monotonic clock, else asyncio's."""
    # Overridden in a subclass or replaced on the instance: a clock of its own.
    real_clock = getattr(loop.time, "__func__", None) is asyncio.BaseEventLoop.time
    libc = _libc() if real_clock and isinstance(loop, asyncio.SelectorEventLoop) else None
    if libc is None:
        return LoopTimers(loop)
    try:
        return TimerfdTimers(loop, libc)
    except OSError:
        return LoopTimers(loop)
