"""An asyncio event loop on virtual time: its clock stands still while anything can run, and
jumps straight to the next timer when nothing can (what trio's autojump clock does for trio).

Whole daemons then run their real timers (advbase 1 s, master-down, hook time limits) in
milliseconds of real time, and every time they record is exact: a takeover 1.5 s after the last
advert is recorded 1.5 s after it, not "between 1.45 and 1.65 s, depending on the machine's
load". The daemon code is unchanged: it reads ``loop.time()`` and sleeps with the loop's timers,
as it does in production.

"Nothing can run" means: no callback is ready, no file descriptor is readable (fake sockets
signal arrivals on real socketpairs, so those count), and no worker thread is busy. Worker
threads (``asyncio.to_thread``: address changes, socket opening) run in real time, so while one
runs the clock waits for it; a fake that wants to be slow does not ``time.sleep`` in its thread
but waits on the loop's clock (:func:`sleep_in_worker`), and counts as idle meanwhile.

Real subprocesses (hooks, script tracks) run in real time too, and the loop cannot see them:
tests that run them use the ordinary loop (``support.run_on_wall_clock``).
"""

from __future__ import annotations

import asyncio
import selectors
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from typing import Any, TypeVar

T = TypeVar("T")
REAL_WAIT = 0.05  # seconds a busy loop waits for a worker thread before looking again
START = 1000.0  # the clock's first reading: a daemon must not rely on the loop starting at 0

_worker = threading.local()  # the virtual loop a worker thread was started by


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """The loop; see the module's docstring. ``jumps`` counts the times the clock jumped."""

    def __init__(self) -> None:
        self._now = START
        self._busy_workers = 0  # worker threads running (not waiting on this loop's clock)
        self.jumps = 0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self._now

    def run_in_executor(  # type: ignore[override]
        self, executor: Executor | None, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        def in_worker() -> T:
            _worker.loop = self
            try:
                return func(*args)
            finally:
                _worker.loop = None

        future = super().run_in_executor(executor, in_worker)
        self._busy_workers += 1
        future.add_done_callback(self._worker_done)
        return future

    def _worker_done(self, _future: asyncio.Future[Any]) -> None:
        self._busy_workers -= 1

    def _idle(self) -> bool:
        return self._busy_workers == 0

    def _jump(self) -> None:
        """To the earliest live timer (the loop removed cancelled ones from the heap's head)."""
        scheduled: list[asyncio.TimerHandle] = self._scheduled  # type: ignore[attr-defined]
        if scheduled and scheduled[0].when() > self._now:
            self._now = scheduled[0].when()
            self.jumps += 1

    async def _waiting_worker(self, delay: float) -> None:
        """``delay`` on this clock for a worker thread, which counts as idle meanwhile."""
        self._busy_workers -= 1
        try:
            await asyncio.sleep(delay)
        finally:
            self._busy_workers += 1


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready: list[tuple[selectors.SelectorKey, int]] = super().select(0)
        if ready or timeout == 0:
            return ready
        if not self._loop._idle() or timeout is None:
            # A worker thread runs (it wakes the loop when it is done), or nothing is scheduled
            # at all: wait in real time, the clock standing still.
            waited: list[tuple[selectors.SelectorKey, int]] = super().select(REAL_WAIT)
            return waited
        self._loop._jump()
        return []


def sleep_in_worker(delay: float) -> None:
    """In a worker thread: wait ``delay`` seconds of the loop's clock (virtual or real).

    A fake's slowness (a netlink call that takes 2 s) is then virtual time on the virtual loop,
    and the thread does not hold the clock back while it waits.
    """
    if delay <= 0:  # no slowness asked: no need of the loop (which may be held meanwhile)
        return
    loop = getattr(_worker, "loop", None)
    if loop is None:  # an ordinary loop: real time is its time
        threading.Event().wait(delay)
        return
    asyncio.run_coroutine_threadsafe(loop._waiting_worker(delay), loop).result()


def run(scenario: Coroutine[Any, Any, T], *, timeout: float) -> T:
    """Run ``scenario`` on a fresh virtual-time loop (as ``asyncio.run`` does on an ordinary
    one: leftover tasks cancelled, the executor shut down); ``timeout`` is virtual seconds."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(asyncio.wait_for(scenario, timeout))
