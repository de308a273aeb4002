"""A queue of slow jobs run one after another by a single task.

Each group has two: one for address changes and announcements, one for scripts. Order within a
queue is what matters (claim before announce; the up script before a later down script); a slow
script must not hold back an address change, hence two queues instead of one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("pycarp.runtime")

Job = Callable[[], Awaitable[None]]


class SerialQueue:
    """Jobs are coroutine factories; an exception in one is logged and the next one runs."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.failures = 0
        self._jobs: asyncio.Queue[Job | None] = asyncio.Queue()

    def submit(self, job: Job) -> None:
        self._jobs.put_nowait(job)

    def close(self) -> None:
        """Let the worker finish what is queued, then end."""
        self._jobs.put_nowait(None)

    async def drained(self) -> None:
        await self._jobs.join()

    async def run(self) -> None:
        while True:
            job = await self._jobs.get()
            try:
                if job is None:
                    return
                await job()
            except Exception:  # a failing effect must not stop the ones after it
                self.failures += 1
                log.exception("%s: effect failed", self.name)
            finally:
                self._jobs.task_done()
