"""Carrier changes: the interface's groups go to INIT and back, the host's other groups demote.

On virtual time (tests/runtime/virtual_time.py): intervals are checked to the exact value.
"""

from __future__ import annotations

import asyncio
import ipaddress

from pycarp.core.table import State

from .fakes import FakeHost, FakeSegment
from .support import Node, group, now, run, running, wait_until

A, B = "198.51.100.1", "198.51.100.2"
VIP1, VIP2 = "198.51.100.100/24", "198.51.100.200/24"


def two_hosts_two_links() -> tuple[Node, Node]:
    """Host A (advskew 0) and host B (advskew 100) share 1@eth0 and 2@eth1."""
    segments = {"eth0": FakeSegment(), "eth1": FakeSegment()}

    nodes = []
    for source, skew in ((A, 0), (B, 100)):
        host = FakeHost(source, segments)
        nodes.append(
            Node(
                host,
                [
                    group(source=source, vhid=1, interface="eth0", addresses=[VIP1], advskew=skew),
                    group(
                        source=source,
                        vhid=2,
                        interface="eth1",
                        addresses=[VIP2],
                        advskew=skew,
                        # B's master-down must outlast A's demoted interval (1 + 240/256 s).
                        dead_ratio=1 if source == A else 3,
                    ),
                ],
            )
        )
    return nodes[0], nodes[1]


def test_carrier_loss_releases_the_group_and_demotes_the_others_until_it_returns() -> None:
    async def scenario() -> None:
        a, b = two_hosts_two_links()
        eth1 = a.host.segments["eth1"]
        async with running(a, b):
            await wait_until(
                lambda: a.state("1@eth0") is a.state("2@eth1") is State.MASTER, 2, "A masters"
            )
            await wait_until(lambda: len(a.host.addresses.addresses("eth0")) == 1, 1, "vip 1")

            a.host.links.push("eth0", False)
            await wait_until(lambda: a.state("1@eth0") is State.INIT, 0.5, "1@eth0 in INIT")
            await wait_until(lambda: not a.host.addresses.addresses("eth0"), 0.5, "released")
            lost_at = now()
            # The other group advertises demoted: advskew 240 on the wire ...
            await wait_until(
                lambda: any(p.advert.advskew == 240 and p.at > lost_at for p in eth1.sent),
                1.2,
                "a demoted advert on eth1",
            )
            assert any("demotion 240" in s for s in a.daemon.status_lines() if "2@eth1" in s)
            # ... which makes it a last resort there: B takes 2@eth1 over without preempt as
            # soon as it hears it (docs/behaviour.md, "a master at the demotion ceiling"), and
            # takes 1@eth0 over too (A is silent there).
            await wait_until(lambda: b.state("2@eth1") is State.MASTER, 0.5, "B takes 2@eth1")
            await wait_until(lambda: a.state("2@eth1") is State.BACKUP, 0.5, "A yields 2@eth1")
            await wait_until(lambda: b.state("1@eth0") is State.MASTER, 2, "B takes 1@eth0")
            await wait_until(
                lambda: b.host.addresses.addresses("eth0") == {ipaddress.ip_interface(VIP1)},
                0.5,
                "B holds vip 1",
            )

            a.host.links.push("eth0", True)
            await wait_until(lambda: a.state("1@eth0") is State.BACKUP, 0.5, "1@eth0 back")
            # the carrier demotion is gone; without preempt A takes nothing back
            await wait_until(
                lambda: a.daemon.host.machine(("eth1", 2)).advskew_on_wire == 0, 0.5, "undemoted"
            )
            await asyncio.sleep(0.5)
            assert (b.state("1@eth0"), b.state("2@eth1")) == (State.MASTER, State.MASTER)
            assert a.daemon.demotion == 0
            assert [t.new for t in a.transitions if t.group == "1@eth0"][:4] == [
                State.BACKUP,
                State.MASTER,
                State.INIT,
                State.BACKUP,
            ]

    run(scenario())


def test_no_carrier_at_start_waits_in_init_until_the_link_comes_up() -> None:
    async def scenario() -> None:
        segment = FakeSegment()
        host = FakeHost(A, {"eth0": segment}, carrier={"eth0": False})
        node = Node(host, [group(source=A)])
        async with running(node):
            assert node.state() is State.INIT
            await wait_until(lambda: node.daemon.demotion == 240, 0.1, "host demoted")
            host.links.push("eth0", True)
            await wait_until(lambda: node.state() is State.BACKUP, 0.5, "backup")
            await wait_until(lambda: node.state() is State.MASTER, 1.5, "master")
            (up_at,) = node.became(State.BACKUP)
            (master_at,) = node.became(State.MASTER)
            assert master_at - up_at == 1.0  # a master-down interval after the carrier came up
            assert segment.sent[0].at == master_at  # silent while in INIT and BACKUP
            assert node.daemon.demotion == 0

    run(scenario())


def test_an_interface_without_carrier_at_start_demotes_groups_started_before_it() -> None:
    async def scenario() -> None:
        segments = {"eth0": FakeSegment(), "eth1": FakeSegment()}
        host = FakeHost(A, segments, carrier={"eth1": False})
        first = group(source=A, vhid=1, interface="eth0", addresses=[VIP1])
        second = group(source=A, vhid=2, interface="eth1", addresses=[VIP2])
        node = Node(host, [first, second])
        async with running(node):
            assert (node.state("1@eth0"), node.state("2@eth1")) == (State.BACKUP, State.INIT)
            machines = {d.config.name: d.machine for d in node.daemon.drivers.values()}
            assert machines["1@eth0"].advskew_on_wire == 240
            assert machines["2@eth1"].advskew_on_wire == 240

    run(scenario())
