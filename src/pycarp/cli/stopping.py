"""SIGINT and SIGTERM over the daemon's whole life: one clean stop, however many, whenever.

The daemon's own handlers (on the asyncio loop) exist only while it runs. Before (imports,
configuration, opening netlink) and after (its teardown, ``asyncio.run``'s clean-up) Python's
defaults would apply: SIGINT raises KeyboardInterrupt wherever the main thread is (a traceback,
exit 130) and SIGTERM ends the process at once (exit 143, perhaps with addresses left). So
``pycarp`` catches both from the first line of its ``main``: a signal before the daemon runs
stops it as soon as it can (or before it starts), one while it runs reaches the daemon, and
after the daemon is done they are ignored until the process exits. SIGHUP, SIGUSR1 and
SIGUSR2, whose default also ends the process, are ignored whenever the daemon is not there to
handle them.

Only this module's few lines run before the handlers are in place (it imports nothing heavy).
"""

from __future__ import annotations

import contextlib
import signal
import typing

if typing.TYPE_CHECKING:
    import asyncio
    import types
    from collections.abc import Callable

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
OPERATOR_SIGNALS = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


class StopSignals:
    """Remembers that a stop was asked for, and hands it to the daemon's loop once there."""

    def __init__(self) -> None:
        self.requested = False
        self._target: tuple[asyncio.AbstractEventLoop, Callable[[], None]] | None = None

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._caught)
        for signum in OPERATOR_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)

    def forward_to(self, loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> None:
        """From now on a stop signal calls ``stop`` on ``loop``; at once if one came already."""
        self._target = (loop, stop)
        if self.requested:
            stop()

    def ignore(self) -> None:
        """The daemon is done: the signals have nothing left to stop."""
        self._target = None
        for signum in (*STOP_SIGNALS, *OPERATOR_SIGNALS):
            signal.signal(signum, signal.SIG_IGN)

    def _caught(self, _signum: int, _frame: types.FrameType | None) -> None:
        self.requested = True
        if self._target is not None:
            loop, stop = self._target
            # Thread-safe call: this handler runs between two bytecodes of whatever the main
            # thread was doing, possibly inside the loop itself. A closed loop: nothing to stop.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop)


def catch() -> StopSignals:
    """Install the handlers (once: a second call returns the instance already installed)."""
    owner = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    if isinstance(owner, StopSignals):
        return owner
    stop = StopSignals()
    stop.install()
    return stop
