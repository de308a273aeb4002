"""Many groups per host: masters spread by advskew, per-interface drop counts, the status view."""

from __future__ import annotations

import ipaddress
import logging

import pytest

from pycarp.core.table import State

from .fakes import FakeHost, FakeSegment, FakeSocket
from .support import SECRET, Node, group, run, running, stop, wait_until

A, B, C = "198.51.100.1", "198.51.100.2", "198.51.100.3"
VIP1, VIP2 = "198.51.100.100/24", "198.51.100.200/24"


def test_two_vhids_have_their_masters_on_different_hosts_and_strays_are_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="pycarp")

    async def scenario() -> None:
        segment = FakeSegment()

        def host(source: str) -> FakeHost:
            return FakeHost(source, {"eth0": segment})

        a = Node(
            host(A),
            [
                group(source=A, vhid=1, addresses=[VIP1], advskew=0),
                group(source=A, vhid=2, addresses=[VIP2], advskew=100),
            ],
        )
        b = Node(
            host(B),
            [
                group(source=B, vhid=1, addresses=[VIP1], advskew=100),
                group(source=B, vhid=2, addresses=[VIP2], advskew=0),
            ],
        )
        c = Node(host(C), [group(source=C, vhid=1, addresses=[VIP1], advskew=200)])
        stranger = FakeSocket(segment, "eth0", ipaddress.ip_address("198.51.100.9"))
        async with running(a, b, c):
            await wait_until(
                lambda: (a.state("1@eth0"), b.state("2@eth0")) == (State.MASTER, State.MASTER),
                2,
                "A masters vhid 1, B masters vhid 2",
            )
            await wait_until(lambda: len(segment.adverts(vhid=2)) >= 2, 2, "B's adverts")
            stranger.send(b"\x21\x07\x00")  # truncated, for a vhid nobody here runs
            stranger.send(b"\x21\x01\x00")  # truncated, for vhid 1: that group drops it
            await wait_until(lambda: c.daemon.interface_drops["eth0"].total >= 3, 1, "counted")

            assert (a.state("2@eth0"), b.state("1@eth0"), c.state("1@eth0")) == (
                State.BACKUP,
                State.BACKUP,
                State.BACKUP,
            )
            await wait_until(
                lambda: (
                    a.host.addresses.addresses("eth0") == {ipaddress.ip_interface(VIP1)}
                    and b.host.addresses.addresses("eth0") == {ipaddress.ip_interface(VIP2)}
                ),
                1,
                "each master holds its own address",
            )
            assert c.host.addresses.addresses("eth0") == set()

            # C runs no vhid 2: B's adverts and the stray are counted on C's interface.
            stats = c.daemon.interface_drops["eth0"].as_dict()
            assert stats["bad_vhid"] == len(segment.adverts(vhid=2))
            assert stats["too_short"] == 1
            assert a.daemon.interface_drops["eth0"].total == 1  # A and B run both vhids
            c_machine = c.daemon.drivers[("eth0", 1)].machine
            assert c_machine.stats.as_dict()["too_short"] == 1

            status_a = a.daemon.status_lines()
            assert len(status_a) == 3
            assert status_a[0].startswith("1@eth0: MASTER (advbase 1, advskew 0, demotion 0); ")
            assert status_a[1].startswith(
                f"2@eth0: BACKUP (advbase 1, advskew 100, demotion 0, master {B}); adverts sent 0"
            )
            assert "hooks run 0 (failed 0, timed out 0); drops: too_short=1" in status_a[0]
            assert status_a[2] == "eth0: packets for no group here: too_short=1"
            status_c = c.daemon.status_lines()
            assert status_c[0].startswith("1@eth0: BACKUP (advbase 1, advskew 200, demotion 0, ")
            assert status_c[-1].startswith(
                "eth0: packets for no group here: too_short=1, bad_vhid="
            )

            c.daemon.log_status()
            for node in (a, b, c):
                assert await stop(node) == 0
        stranger.close()

        # The passphrase never reaches a log line, a status line or a repr.
        texts = [r.getMessage() for r in caplog.records]
        texts += [repr(n.daemon.config) for n in (a, b, c)]
        assert texts
        assert not [t for t in texts if SECRET in t]
        assert "1@eth0: BACKUP -> MASTER" in caplog.text or "1@eth0: BACKUP" in caplog.text

    run(scenario())
