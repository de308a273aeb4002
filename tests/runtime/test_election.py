"""Several daemons on one fake segment: one master, failover on a crash, hand-over on bow-out.

On virtual time (tests/runtime/virtual_time.py): every interval is checked to the exact value.
"""

from __future__ import annotations

import ipaddress

from pycarp.core.table import State
from pycarp.core.timing import master_down_interval

from .fakes import FakeHost, FakeSegment
from .support import VIRTUAL, Node, group, run, running, stop, wait_until

SOURCES = ("198.51.100.1", "198.51.100.2", "198.51.100.3")
SKEWS = (0, 100, 200)  # master-down 1.0 s, 1.39 s, 1.78 s with dead ratio 1
PREFIX = ipaddress.ip_interface(VIRTUAL)


def three_nodes() -> list[Node]:
    segment = FakeSegment()
    return [
        Node(FakeHost(source, {"eth0": segment}), [group(source=source, advskew=skew)])
        for source, skew in zip(SOURCES, SKEWS, strict=True)
    ]


def masters(nodes: list[Node]) -> list[Node]:
    return [n for n in nodes if n.state() is State.MASTER]


def holders(nodes: list[Node]) -> list[Node]:
    return [n for n in nodes if PREFIX in n.host.addresses.addresses("eth0")]


def test_three_daemons_elect_one_master_that_alone_holds_the_address() -> None:
    async def scenario() -> None:
        nodes = three_nodes()
        async with running(*nodes):
            await wait_until(lambda: len(masters(nodes)) == 1, 3, "a master is elected")
            await wait_until(lambda: len(holders(nodes)) == 1, 1, "the address is installed")
            # Several more intervals: still one master, the same one, nobody else flapping.
            first = masters(nodes)[0]
            await wait_until(lambda: len(first.host.announcer.calls) >= 2, 4, "re-announced")
            assert masters(nodes) == [first] == holders(nodes)
            assert first is nodes[0]  # the lowest advskew wins
            for node in nodes[1:]:
                assert [t.new for t in node.transitions] == [State.BACKUP]
            assert first.host.announcer.calls[0] == ("eth0", (PREFIX.ip,))

    run(scenario())


def test_a_crashed_master_is_replaced_within_the_master_down_interval() -> None:
    async def scenario() -> None:
        nodes = three_nodes()
        async with running(*nodes):
            await wait_until(lambda: nodes[0].state() is State.MASTER, 3, "node 0 is master")
            await wait_until(lambda: holders(nodes) == [nodes[0]], 1, "node 0 holds the address")
            segment = nodes[0].host.segments["eth0"]
            nodes[0].crash()
            await wait_until(lambda: nodes[0].task is not None and nodes[0].task.done(), 1, "dead")
            last_advert = segment.adverts(source=nodes[0].host.source)[-1].at
            await wait_until(lambda: nodes[1].state() is State.MASTER, 3, "node 1 takes over")
            (took_over,) = nodes[1].became(State.MASTER)
            # Exactly one master-down interval of silence after the last advert it heard.
            assert took_over - last_advert == master_down_interval(1, SKEWS[1], 1)
            await wait_until(lambda: PREFIX in nodes[1].host.addresses.addresses("eth0"), 1, "vip")
            assert nodes[2].state() is State.BACKUP
            # No bow-out from the crashed daemon: nothing after its last advert, and its stale
            # address stays behind, as after kill -9.
            assert all(p.advert.advbase == 1 for p in segment.adverts(source=nodes[0].host.source))
            assert PREFIX in nodes[0].host.addresses.addresses("eth0")
            assert len(masters(nodes[1:])) == 1
            # A dead daemon's timers die with it: it tries no further sends (in somebody else's
            # event loop a leftover timer would keep "advertising" through a closed socket).
            for driver in nodes[0].daemon.drivers.values():
                assert driver.counters.send_errors == 0

    run(scenario())


def test_stopping_the_master_bows_out_and_the_best_backup_takes_over_after_its_skew() -> None:
    async def scenario() -> None:
        nodes = three_nodes()
        async with running(*nodes):
            await wait_until(lambda: nodes[0].state() is State.MASTER, 3, "node 0 is master")
            loop_time = nodes[0].transitions[-1].at
            segment = nodes[0].host.segments["eth0"]
            await wait_until(lambda: bool(holders(nodes)), 1, "address installed")
            assert await stop(nodes[0]) == 0
            bow_out = segment.adverts(source=nodes[0].host.source)[-1]
            assert (bow_out.advert.advbase, bow_out.advert.advskew) == (255, 255)
            await wait_until(lambda: nodes[1].state() is State.MASTER, 1.2, "node 1 takes over")
            (took_over,) = nodes[1].became(State.MASTER)
            # after node 1's own advskew/256 s (100/256 s), not a master-down interval
            assert took_over - bow_out.at == SKEWS[1] / 256
            assert took_over > loop_time
            assert nodes[0].host.addresses.addresses("eth0") == set()
            assert nodes[2].state() is State.BACKUP
            await wait_until(lambda: holders(nodes) == [nodes[1]], 1, "address moved")

    run(scenario())
