"""Slow netlink stays off the timing path: it delays no advert and no election.

On virtual time (tests/runtime/virtual_time.py): the fake address manager takes 0.5 s of the
loop's clock per change, and every advert's time on the fake segment is exact.
"""

from __future__ import annotations

import logging

import pytest

from pycarp.core.table import State

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
