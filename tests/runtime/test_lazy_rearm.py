"""A backup's deadline moves with every advert it hears; its timer is not re-armed for each.

The driver leaves an armed timer alone when the deadline moves later and re-arms when it
fires early (runtime/driver.py, ``rearm``): at 255 groups and 0.05 s that is 5,100 timer
operations a second saved on the backup. Precision must not suffer: the takeover still
comes exactly one master-down after the last advert heard (virtual time, ``==``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pycarp.core.table import State
from pycarp.core.timing import master_down_interval
from pycarp.runtime.timers import LoopTimers, Timer

from .fakes import FakeHost, FakeSegment
from .support import Node, group, run, running, wait_until

MASTER, BACKUP = "198.51.100.1", "198.51.100.2"
BACKUP_SKEW = 100


class CountingTimers:
    """asyncio's timers, counting how often a timer is armed."""

    precise = False

    def __init__(self) -> None:
        self.armed = 0
        self._timers: LoopTimers | None = None

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        if self._timers is None:
            self._timers = LoopTimers(asyncio.get_running_loop())
        self.armed += 1
        return self._timers.call_at(when, callback)

    def earliest(self) -> float | None:
        return None

    def close(self) -> None:
        pass


def test_hearing_adverts_re_arms_once_per_master_down_and_the_takeover_stays_exact() -> None:
    async def scenario() -> None:
        segment = FakeSegment()
        counting = CountingTimers()
        master = Node(FakeHost(MASTER, {"eth0": segment}), [group(source=MASTER)])
        backup = Node(
            FakeHost(BACKUP, {"eth0": segment}),
            [group(source=BACKUP, advskew=BACKUP_SKEW, dead_ratio=3)],
            timers=counting,
        )
        down = master_down_interval(1, BACKUP_SKEW, 3)  # 3.39 s: three adverts per re-arm
        async with running(master, backup):
            await wait_until(lambda: master.state() is State.MASTER, 3, "master")
            await wait_until(lambda: backup.state() is State.BACKUP, 3, "backup")
            heard_before, armed_before = (
                len(segment.adverts(source=master.host.source)),
                counting.armed,
            )
            await asyncio.sleep(20)
            heard = len(segment.adverts(source=master.host.source)) - heard_before
            armed = counting.armed - armed_before
            assert heard == 20  # one a second
            # Once per master-down the timer fires early and re-arms; never once per advert.
            assert armed <= 20 / down + 1 < heard
            master.crash()
            await wait_until(lambda: master.task is not None and master.task.done(), 1, "dead")
            last_advert = segment.adverts(source=master.host.source)[-1].at
            await wait_until(lambda: backup.state() is State.MASTER, 5, "takeover")
            (took_over,) = backup.became(State.MASTER)
            assert took_over - last_advert == down

    run(scenario())
