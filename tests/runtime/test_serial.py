"""SerialQueue.idle: the driver asks the address worker directly only when its group's queue
has nothing queued, handed over or running (an earlier release must not come after a claim)."""

from __future__ import annotations

import asyncio

from pycarp.runtime.serial import SerialQueue

from .support import run


def test_idle_only_when_no_job_is_queued_handed_over_or_running() -> None:
    async def scenario() -> None:
        queue = SerialQueue("1@eth0 addresses")
        worker = asyncio.ensure_future(queue.run())
        assert queue.idle
        release = asyncio.Event()
        seen: list[bool] = []

        async def slow() -> None:
            seen.append(queue.idle)  # running: not idle
            await release.wait()

        async def quick() -> None:
            seen.append(queue.idle)

        queue.submit(slow)
        assert not queue.idle  # queued, not yet handed to the worker
        queue.submit(quick)
        await asyncio.sleep(0)
        assert not queue.idle
        release.set()
        await asyncio.sleep(0.01)
        assert seen == [False, False]
        assert queue.idle
        queue.close()
        await worker
        assert queue.idle

    run(scenario())


def test_a_failed_job_is_done_too() -> None:
    async def scenario() -> None:
        queue = SerialQueue("1@eth0 addresses")
        worker = asyncio.ensure_future(queue.run())

        async def broken() -> None:
            raise RuntimeError("a bug")

        queue.submit(broken)
        queue.close()
        await worker
        assert queue.idle
        assert queue.failures == 1

    run(scenario())
