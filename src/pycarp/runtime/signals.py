"""The daemon's signal handlers on its event loop, put in place and taken back cleanly.

``install`` remembers what was there; ``remove`` puts it back (asyncio alone would put the
defaults: SIGTERM kills, SIGINT raises KeyboardInterrupt, so a second Ctrl-C during teardown
would do either). The signals are blocked while the handlers change (``pycarp run`` keeps them
off its worker threads), so one arriving in between waits for the restored handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Mapping


class LoopSignals:
    def __init__(self, handlers: Mapping[signal.Signals, Callable[[], None]]) -> None:
        self._handlers = dict(handlers)
        self._previous: dict[int, signal._HANDLER] = {}

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        with contextlib.suppress(RuntimeError, ValueError):  # not the main thread (tests)
            for signum, handler in self._handlers.items():
                previous = signal.getsignal(signum)
                loop.add_signal_handler(signum, handler)
                if signal.getsignal(signum) is not previous:  # not another daemon's, same loop
                    self._previous[signum] = previous

    def remove(self, loop: asyncio.AbstractEventLoop) -> None:
        signums = tuple(self._handlers)
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, signums)
        try:
            for signum in signums:
                with contextlib.suppress(RuntimeError, ValueError):
                    loop.remove_signal_handler(signum)
                previous = self._previous.pop(signum, None)
                if previous is not None:
                    signal.signal(signum, previous)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
