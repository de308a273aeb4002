"""A send that can never work takes the group out of MASTER; nothing escapes the timer.

Before: a ``TypeError`` from the send (an IPv6 peer on an IPv4 socket) escaped the timer
callback: the group stayed MASTER with its address, sent nothing, its timer was never re-armed,
and shutdown ended in a traceback with the address left behind.
"""

from __future__ import annotations

import errno
import ipaddress

import pytest

from pycarp.core.table import State

from .fakes import FakeHost, FakeSegment
from .support import VIRTUAL, Node, group, run, running, stop, wait_until

SOURCE = "198.51.100.1"
OTHER_VIRTUAL = "198.51.100.101/24"


def _one_host() -> Node:
    host = FakeHost(SOURCE, {"eth0": FakeSegment(), "eth1": FakeSegment()})
    return Node(
        host,
        [
            group(source=SOURCE),
            group(source=SOURCE, interface="eth1", vhid=2, addresses=(OTHER_VIRTUAL,)),
        ],
    )


@pytest.mark.parametrize(
    "error",
    [TypeError("IPv4 socket cannot send to 2001:db8::2"), OSError(errno.EINVAL, "Invalid")],
    ids=["bug", "einval"],
)
def test_a_permanent_send_failure_leaves_master_and_releases_the_address(
    error: Exception,
) -> None:
    async def scenario() -> None:
        node = _one_host()
        async with running(node):
            await wait_until(lambda: node.state() is State.MASTER, 3, "master")
            await wait_until(
                lambda: ipaddress.ip_interface(VIRTUAL) in node.host.addresses.addresses("eth0"),
                1,
                "address claimed",
            )
            eth0 = next(s for s in node.host.sockets if s.interface == "eth0")
            eth0.send_error = error
            await wait_until(lambda: node.state() is State.INIT, 2, "the group left MASTER")
            reason = node.transitions[-1].reason
            assert reason.startswith("cannot send advertisements: "), reason
            await wait_until(
                lambda: not node.host.addresses.addresses("eth0"), 1, "address released"
            )
            # it stays out (no timer left to bring it back), the other group carries on
            sent_before = len(node.host.segments["eth1"].sent)
            await wait_until(
                lambda: len(node.host.segments["eth1"].sent) >= sent_before + 2, 3, "eth1 alive"
            )
            assert node.state() is State.INIT
            assert node.state("2@eth1") is State.MASTER
            assert await stop(node) == 0
        assert not node.host.addresses.addresses("eth1")

    run(scenario())


def test_a_transient_send_failure_keeps_the_group_master() -> None:
    async def scenario() -> None:
        node = _one_host()
        async with running(node):
            await wait_until(lambda: node.state() is State.MASTER, 3, "master")
            eth0 = next(s for s in node.host.sockets if s.interface == "eth0")
            eth0.send_error = OSError(errno.ENOBUFS, "No buffer space available")
            driver = node.daemon.drivers[("eth0", 1)]
            await wait_until(lambda: driver.counters.send_errors >= 2, 3, "sends failed")
            assert node.state() is State.MASTER
            eth0.send_error = None
            assert await stop(node) == 0

    run(scenario())
