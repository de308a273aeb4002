"""The virtual-time loop the runtime tests run on: it jumps only when nothing can run."""

from __future__ import annotations

import asyncio
import socket
import threading
import time

from .virtual_time import START, VirtualTimeLoop, run, sleep_in_worker


def test_an_hour_of_timers_passes_at_once_and_exactly() -> None:
    async def scenario() -> list[float]:
        loop = asyncio.get_running_loop()
        seen = []
        for delay in (0.5, 1.0, 3600.0):
            await asyncio.sleep(delay)
            seen.append(loop.time())
        return seen

    began = time.monotonic()
    assert run(scenario(), timeout=7200) == [START + 0.5, START + 1.5, START + 3601.5]
    assert time.monotonic() - began < 2  # real seconds: generous for a loaded machine


def test_a_busy_worker_thread_holds_the_clock() -> None:
    """While a thread works in real time, no timer may fire early on the virtual clock."""

    async def scenario() -> tuple[float, float, bool]:
        loop = asyncio.get_running_loop()
        fired = asyncio.Event()
        loop.call_later(1.0, fired.set)
        before = loop.time()
        await asyncio.to_thread(time.sleep, 0.05)  # real work, in real time
        return before, loop.time(), fired.is_set()

    before, after, fired = run(scenario(), timeout=10)
    assert (after, fired) == (before, False)


def test_a_worker_waiting_on_the_loop_clock_lets_it_jump() -> None:
    """A fake's slowness in a worker thread is virtual time (sleep_in_worker), exactly."""

    async def scenario() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        before = loop.time()
        await asyncio.to_thread(sleep_in_worker, 2.0)
        return before, loop.time()

    began = time.monotonic()
    before, after = run(scenario(), timeout=10)
    assert after - before == 2.0
    assert time.monotonic() - began < 2


def test_sleep_in_worker_outside_the_virtual_loop_is_real_time() -> None:
    began = time.monotonic()
    thread = threading.Thread(target=sleep_in_worker, args=(0.05,))
    thread.start()
    thread.join()
    assert time.monotonic() - began >= 0.05


def test_a_readable_descriptor_is_served_before_the_clock_jumps() -> None:
    """Fake sockets signal arrivals on socketpairs: the arrival is seen at the time it was sent."""

    async def scenario() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        reader, writer = socket.socketpair()
        got = loop.create_future()

        def arrived() -> None:
            if not got.done():
                got.set_result(loop.time())

        loop.add_reader(reader.fileno(), arrived)
        loop.call_later(5.0, lambda: None)  # somewhere to jump to
        sent = loop.time()
        writer.send(b"x")
        try:
            return sent, await got
        finally:
            loop.remove_reader(reader.fileno())
            reader.close()
            writer.close()

    sent, seen = run(scenario(), timeout=10)
    assert seen == sent


def test_the_loop_counts_its_jumps() -> None:
    loop = VirtualTimeLoop()
    try:
        loop.run_until_complete(asyncio.sleep(3))
        assert (loop.time(), loop.jumps) == (START + 3, 1)
    finally:
        loop.close()
