"""Slow netlink stays off the timing path: it delays no advert and no election.

On virtual time (tests/runtime/virtual_time.py): the fake address manager takes 0.5 s of the
loop's clock per change, and every advert's time on the fake segment is exact.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from pycarp.core.constants import IPInterface
from pycarp.core.table import State
from pycarp.observe import facts
from pycarp.observe.stream import Published
from pycarp.runtime.address_work import Outcome

from .fakes import FakeHost, FakeSegment
from .support import Node, group, run, running, spacing_of_master_adverts, stop, wait_until

SOURCE = "198.51.100.1"
ADDRESSES = ("198.51.100.100/24", "198.51.100.101/24")


def test_slow_netlink_delays_no_advert_and_no_election() -> None:
    async def scenario() -> None:
        host = FakeHost(SOURCE, {"eth0": FakeSegment()}, address_delay=0.5)
        node = Node(host, [group(source=SOURCE, addresses=ADDRESSES)])
        async with running(node):
            became_backup = node.became(State.BACKUP)[0]
            # Releasing the two stale addresses takes 1 s and runs while the timer runs: the
            # master-down interval (1 s) is not a moment longer.
            await wait_until(lambda: node.state() is State.MASTER, 2, "master")
            master_at = node.became(State.MASTER)[0]
            assert master_at - became_backup == 1.0
            # Claiming the two addresses takes 1 s too: no advert waits for it.
            await wait_until(lambda: len(host.segments["eth0"].sent) >= 4, 4, "four adverts")
            assert host.segments["eth0"].sent[0].at == master_at
            assert spacing_of_master_adverts(node, 4) == [1.0, 1.0, 1.0]
            await wait_until(lambda: len(host.addresses.addresses("eth0")) == 2, 2, "claimed")
            assert await stop(node) == 0
            assert host.addresses.addresses("eth0") == set()

    run(scenario())


def test_a_stop_during_a_slow_claim_skips_the_queued_announcement(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Found at 10,000 groups (tests/netns/test_scale_shutdown.py): a group stopped while its
    claim was still running left the host, and the announcement queued behind the claim then
    asked the host for the group's state: "effect failed", KeyError. Now it is skipped, and
    the addresses are still released."""

    async def scenario() -> None:
        host = FakeHost(SOURCE, {"eth0": FakeSegment()}, address_delay=0.5)
        node = Node(host, [group(source=SOURCE, addresses=ADDRESSES)])
        async with running(node):
            await wait_until(lambda: node.state() is State.MASTER, 2, "master")
            # The two stale addresses' release ran first; the claim of two takes 1 s.
            await wait_until(lambda: len(host.addresses.addresses("eth0")) == 1, 2, "claiming")
            assert host.announcer.calls == []  # the announcement waits behind the claim
            assert await stop(node) == 0
            assert host.addresses.addresses("eth0") == set()
            assert host.announcer.calls == []

    with caplog.at_level(logging.WARNING, logger="pycarp"):
        run(scenario())
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_a_takeover_asks_for_its_addresses_before_the_next_turn_of_the_loop() -> None:
    """In a burst of 1,000 takeovers every turn of the loop is long: a claim that went
    through its group's queue first reached the address worker some turns later
    (bench/scale.py). With nothing of the group's queued, the worker is asked at once."""

    async def scenario() -> None:
        host = FakeHost(SOURCE, {"eth0": FakeSegment()})
        node = Node(host, [group(source=SOURCE, addresses=ADDRESSES)])
        loop = asyncio.get_running_loop()
        work = node.daemon.address_work
        asked: list[bool] = []
        seen_next_turn: list[int] = []
        ask = work.ask

        def recording_ask(
            add: bool, interface: str, prefixes: Sequence[IPInterface]
        ) -> asyncio.Future[list[Outcome]]:
            asked.append(add)
            return ask(add, interface, prefixes)

        def on_fact(published: Published) -> None:
            fact = published.fact
            if isinstance(fact, facts.StateChanged) and fact.new == State.MASTER.value:
                loop.call_soon(lambda: seen_next_turn.append(asked.count(True)))

        work.ask = recording_ask  # type: ignore[method-assign]
        node.daemon.stream.subscribe(on_fact)
        async with running(node):
            await wait_until(lambda: len(host.addresses.addresses("eth0")) == 2, 3, "claimed")
        assert seen_next_turn == [1]

    run(scenario())
