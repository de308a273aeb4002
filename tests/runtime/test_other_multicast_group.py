"""``--mcast GROUP``: the adverts go to another multicast group, and are heard there.

The fake segment delivers a multicast advert only to sockets that joined its group, as the
kernel does (the raw socket has ``IP_MULTICAST_ALL`` off). Before the fix the daemon sent to
the configured group but its socket had joined only CARP's: both hosts became master.
"""

from __future__ import annotations

import ipaddress

import pytest

from pycarp.core.table import State

from .fakes import FakeHost, FakeSegment
from .support import Node, group, run, running, wait_until

# Link-scope groups (never forwarded by a router), not CARP's 224.0.0.18 / ff02::12.
CASES = [
    ("198.51.100.1", "198.51.100.2", "198.51.100.100/24", "224.0.0.218"),
    ("2001:db8::1", "2001:db8::2", "2001:db8::100/64", "ff02::218"),
]


@pytest.mark.parametrize(("a", "b", "virtual", "mcast"), CASES, ids=["ipv4", "ipv6"])
def test_two_daemons_on_another_multicast_group_elect_one_master(
    a: str, b: str, virtual: str, mcast: str
) -> None:
    async def scenario() -> None:
        segment = FakeSegment()
        first = Node(
            FakeHost(a, {"eth0": segment}),
            [group(source=a, addresses=[virtual], destination=mcast)],
        )
        second = Node(
            FakeHost(b, {"eth0": segment}),
            [group(source=b, addresses=[virtual], advskew=100, destination=mcast)],
            seed=2,
        )
        async with running(first, second):
            await wait_until(lambda: first.state() is State.MASTER, 3, "the first masters")
            await wait_until(lambda: len(segment.adverts(vhid=1)) >= 4, 4, "adverts flowing")
            assert second.state() is State.BACKUP
            assert second.became(State.MASTER) == []
        group_address = ipaddress.ip_address(mcast)
        assert {p.destination for p in segment.adverts(vhid=1)} == {group_address}

    run(scenario())
