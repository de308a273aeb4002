"""A takeover's advert leaves before the state change is logged and published.

The log line and the event file cost about a millisecond, which the backup's peers and the
clients would otherwise wait for (issue 9: the takeover advert within 1 ms of the deadline).
"""

from __future__ import annotations

import ipaddress

from pycarp.core.table import State
from pycarp.observe import facts
from pycarp.observe.stream import Published

from .fakes import FakeHost, FakeSegment
from .support import Node, group, run, running, wait_until

SOURCE = "198.51.100.1"


def test_the_takeover_advert_is_on_the_wire_when_the_change_is_published() -> None:
    async def scenario() -> list[int]:
        segment = FakeSegment()
        node = Node(FakeHost(SOURCE, {"eth0": segment}), [group(source=SOURCE)])
        on_wire: list[int] = []

        def watch(published: Published) -> None:
            fact = published.fact
            if isinstance(fact, facts.StateChanged) and fact.new == State.MASTER.value:
                on_wire.append(len(segment.adverts(source=ipaddress.ip_address(SOURCE))))

        node.daemon.stream.subscribe(watch)
        async with running(node):
            await wait_until(lambda: node.state() is State.MASTER, 3, "master")
        return on_wire

    assert run(scenario()) == [1]


def test_the_listener_still_hears_every_change_in_order() -> None:
    async def scenario() -> list[State]:
        segment = FakeSegment()
        node = Node(FakeHost(SOURCE, {"eth0": segment}), [group(source=SOURCE)])
        async with running(node):
            await wait_until(lambda: node.state() is State.MASTER, 3, "master")
        return [t.new for t in node.transitions]

    assert run(scenario())[:2] == [State.BACKUP, State.MASTER]
