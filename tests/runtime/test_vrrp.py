"""VRRPv3 groups in the real daemon over a fake segment: the same runtime as CARP.

Two daemons at a 0.1 s interval elect by priority; a third whose address list differs is
accepted and said once (a typed fact, counted in the status); each group says once, at start,
that it runs without authentication.
"""

from __future__ import annotations

from collections.abc import Sequence

from pycarp.config.build import RawGroup, build_group
from pycarp.config.model import GroupConfig
from pycarp.control.view import render
from pycarp.core.table import State
from pycarp.observe import facts
from pycarp.observe.stream import Published
from pycarp.runtime.status import build_status, status_lines

from .fakes import FakeHost, FakeSegment
from .support import VIRTUAL, Node, run, running, wait_until


def vrrp_group(source: str, priority: int, addresses: Sequence[str] = (VIRTUAL,)) -> GroupConfig:
    raw = RawGroup(
        interface="eth0",
        source=source,
        vhid=9,
        addresses=list(addresses),
        protocol="vrrp3",
        priority=priority,
        interval=0.1,
    )
    return build_group(raw, lambda field: field)


def test_vrrp3_daemons_elect_by_priority_and_say_what_differs_from_carp() -> None:
    async def scenario() -> None:
        segment = FakeSegment()
        nodes = [
            Node(FakeHost(source, {"eth0": segment}), [vrrp_group(source, priority)])
            for source, priority in (("198.51.100.1", 100), ("198.51.100.2", 200))
        ]
        odd_source = "198.51.100.3"
        odd = Node(
            FakeHost(odd_source, {"eth0": segment}),
            [vrrp_group(odd_source, 50, ("198.51.100.100/24", "198.51.100.101/24"))],
        )
        seen: dict[str, list[Published]] = {}
        for node in [*nodes, odd]:
            events: list[Published] = []
            seen[str(node.host.source)] = events
            node.daemon.stream.subscribe(events.append)
        async with running(*nodes, odd):
            await wait_until(lambda: nodes[1].state("9@eth0") is State.MASTER, 2, "priority 200")
            await wait_until(
                lambda: any(
                    isinstance(p.fact, facts.AddressListMismatch) for p in seen["198.51.100.3"]
                ),
                2,
                "the odd node says the list differs",
            )
            document = build_status(odd.daemon)
            lines = status_lines(nodes[1].daemon)
        for loser in (nodes[0], odd):  # a lower priority waits longer: never master
            assert State.MASTER not in [t.new for t in loser.transitions]
        for events in seen.values():
            said = [p.fact for p in events if isinstance(p.fact, facts.Unauthenticated)]
            assert len(said) == 1
            assert said[0].protocol == "vrrp3"
        mismatches = [
            p.fact for p in seen[odd_source] if isinstance(p.fact, facts.AddressListMismatch)
        ]
        assert len(mismatches) == 1  # said once; the adverts keep coming and are counted
        assert mismatches[0].source == "198.51.100.2"
        assert mismatches[0].theirs == ("198.51.100.100",)
        (group,) = document["groups"]
        assert group["protocol"] == "vrrp3"
        assert group["vrrp"]["priority"] == 50
        assert group["vrrp"]["interval"] == 0.1
        assert group["vrrp"]["authentication"] is False
        assert group["vrrp"]["address_mismatches"] >= 1
        assert group["master"]["priority"] == 200
        assert group["master"]["interval"] == 0.1  # learned from its adverts
        assert group["interval"] == 0.1
        assert group["drops"] == {}
        assert "active with priority 200, above our 50" in group["why"]
        assert "VRRPv3 priority 200, interval 0.10 s" in lines[0]
        shown = render(document, 0.0)  # what `pycarp status` prints
        assert "VRRPv3     priority 50 configured, 50 on the wire, every 0.1s" in shown
        assert "no authentication" in shown
        assert "master     198.51.100.2, priority 200" in shown
        assert "adverts listed other addresses" in shown

    run(scenario())
