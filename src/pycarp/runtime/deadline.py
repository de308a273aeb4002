"""One group's deadline on the daemon's timers: lazy when it moves later, early for a takeover.

Two things about a group's single deadline are worth doing outside the core:

* **Lazy re-arming.** A backup's deadline moves later with every advert it hears (5,100 times
  a second for 255 groups at 0.05 s). A deadline that moved later leaves the armed timer alone;
  when the timer fires early it re-arms for the deadline then wanted, once per master-down
  instead of a cancel and a re-arm per advert.
* **Takeovers computed ahead, sent on time.** When a backup's master-down timer expires, the
  peers and the clients wait for its advert. Waking the process (~0.1-0.2 ms) and running the
  takeover in Python (~0.2-0.3 ms, cold) both come after the deadline if the timer fires on
  it. With precise timers (a timerfd), a takeover deadline is armed :data:`TAKEOVER_LEAD`
  early instead; the driver reads what the network delivered meanwhile (an advert still
  cancels the takeover), runs the core *as of the deadline*, and the advert waits in a short
  spin for the deadline itself (:meth:`DeadlineTimer.hold_until_due`). Never before it: the
  advert leaves at the deadline or after, never early. Only when no other timer of the daemon
  is due first and no address work is running in the worker thread (which the spin would keep
  from the interpreter), so a burst of takeovers (1,000 groups failing over at once) spins
  for none; each then runs on its deadline as before.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from pycarp.runtime.timers import Timer, Timers

# How early a takeover is computed: more than the wake-up plus the takeover's own work on a
# loaded machine (both ~0.2-0.5 ms), little enough that the spin it leaves costs nothing.
TAKEOVER_LEAD = 0.0015

# Called with the deadline and whether it is run ahead of it (the spin is still to come).
DueCallback = Callable[[float, bool], None]


class DeadlineTimer:
    """The armed timer behind one group's core deadline."""

    def __init__(
        self,
        timers: Timers,
        loop: asyncio.AbstractEventLoop,
        on_due: DueCallback,
        busy: Callable[[], bool] = lambda: False,
    ):
        self._timers = timers
        self._loop = loop
        self._on_due = on_due
        self._busy = busy  # other work the spin would hold up (the address worker)
        self._timer: Timer | None = None
        self._deadline = 0.0  # the deadline self._timer serves (meaningful while it is set)
        self._wanted: float | None = None  # the core's deadline, which may be later
        self._takeover = False  # the armed deadline is a takeover (computed ahead if allowed)

    @property
    def armed(self) -> bool:
        return self._timer is not None

    def set(self, deadline: float | None, *, takeover: bool = False) -> None:
        """The core's deadline is now ``deadline`` (None: none); ``takeover``: what expires
        then is a backup's master-down timer."""
        self._wanted = deadline
        if deadline is None:
            self._cancel()
        elif self._timer is None or deadline < self._deadline or takeover != self._takeover:
            self._cancel()
            self._arm(deadline, takeover)

    def stop(self) -> None:
        self._wanted = None
        self._cancel()

    def hold_until_due(self, deadline: float) -> None:
        """Spin until the loop's clock reaches ``deadline`` (at most :data:`TAKEOVER_LEAD`,
        which is enough: a takeover is never woken earlier than that). The advert waits here;
        and whatever the takeover did, the loop goes on only once the deadline is past, since
        the group's machine has been told it is."""
        clock = time.monotonic  # the loop's clock (runtime/timers.py: precise timers only)
        bound = clock() + TAKEOVER_LEAD
        while clock() < deadline and clock() < bound:
            pass

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, deadline: float, takeover: bool) -> None:
        self._deadline, self._takeover = deadline, takeover
        ahead = takeover and self._timers.precise
        when = deadline - TAKEOVER_LEAD if ahead else deadline
        self._timer = self._timers.call_at(when, self._fired)

    def _fired(self) -> None:
        self._timer = None
        wanted, deadline = self._wanted, self._deadline
        now = self._loop.time()
        if wanted is not None and wanted > deadline and wanted > now:  # moved later since armed
            self._arm(wanted, self._takeover)
            return
        if now >= deadline or not self._timers.precise:  # (asyncio runs a timer a hair early)
            self._on_due(deadline, False)
            return
        earliest = self._timers.earliest()
        if (earliest is not None and earliest < deadline) or self._busy():
            # Another deadline comes first, or the worker thread has work: do not hold the
            # loop for this one. A plain timer on the deadline.
            self._timer = self._timers.call_at(deadline, self._fired)
            return
        self._on_due(deadline, True)
