"""A queue of slow jobs run one after another by a single task.

Each group has two: one for address changes and announcements, one for scripts. Order within a
queue is what matters (claim before announce; the up script before a later down script); a slow
script must not hold back an address change, hence two queues instead of one.

At shutdown the daemon may :meth:`SerialQueue.cut_current` a job that hangs, so that the jobs
queued behind it (the down script that removes the address, in scripts mode) still run.
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
        self._current: asyncio.Task[None] | None = None
        self._unfinished = 0  # jobs submitted and not yet done (queued, handed over, running)

    def submit(self, job: Job) -> None:
        self._unfinished += 1
        self._jobs.put_nowait(job)

    @property
    def idle(self) -> bool:
        """Nothing queued or running: whatever is asked now comes after nothing of this queue."""
        return self._unfinished == 0

    def close(self) -> None:
        """Let the worker finish what is queued, then end."""
        self._jobs.put_nowait(None)

    @property
    def backlog(self) -> int:
        """Jobs waiting behind the current one."""
        return self._jobs.qsize()

    def cut_current(self) -> bool:
        """Cancel the job now running (a hook is then killed); the next job starts."""
        if self._current is None or self._current.done():
            return False
        self._current.cancel()
        return True

    async def run(self) -> None:
        while True:
            job = await self._jobs.get()
            try:
                if job is None:
                    return
                await self._run_one(job)
            finally:
                if job is not None:
                    self._unfinished -= 1
                self._jobs.task_done()

    async def _run_one(self, job: Job) -> None:
        async def wrapped() -> None:
            await job()

        current = self._current = asyncio.create_task(wrapped())
        try:
            await asyncio.wait({current})
        except asyncio.CancelledError:  # the worker itself is being cancelled: take the job along
            current.cancel()
            raise
        finally:
            self._current = None
        if current.cancelled():
            self.failures += 1
            log.warning("%s: effect cut short", self.name)
        elif (error := current.exception()) is not None:
            # A failing effect must not stop the ones after it.
            self.failures += 1
            log.error("%s: effect failed", self.name, exc_info=error)
