"""The simulator's virtual clock: a queue of callbacks ordered by time, then by insertion.

Nothing here reads a real clock. Two callbacks due at the same instant run in the order they
were scheduled, so a run is a pure function of its inputs and its seed: that is what makes a
failing scenario reproducible from one integer.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable


class TimeWentBackwards(ValueError):
    """Something asked to run in the past: a bug in the caller, never in the network."""


class VirtualClock:
    """``now`` only moves forward, and only inside :meth:`run_until`."""

    __slots__ = ("_queue", "_sequence", "now")

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = itertools.count()

    def call_at(self, when: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` at virtual time ``when`` (not before anything already due then)."""
        if when < self.now:
            raise TimeWentBackwards(f"cannot schedule at t={when}: it is already t={self.now}")
        heapq.heappush(self._queue, (float(when), next(self._sequence), callback))

    def run_until(self, end: float) -> None:
        """Run everything due at or before ``end``, in order, then leave ``now`` at ``end``.

        Callbacks may schedule more work; whatever lands at or before ``end`` runs too.
        """
        if end < self.now:
            raise TimeWentBackwards(f"cannot run until t={end}: it is already t={self.now}")
        end = float(end)
        queue = self._queue
        while queue and queue[0][0] <= end:
            when, _, callback = heapq.heappop(queue)
            self.now = when
            callback()
        self.now = end
