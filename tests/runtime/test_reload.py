"""SIGHUP reload: new groups start, unchanged ones run on untouched, a bad file changes nothing."""

from __future__ import annotations

import itertools
import logging

import pytest

from pycarp.config.model import ConfigError, DaemonConfig
from pycarp.core.table import State

from .fakes import FakeHost, FakeSegment
from .support import Node, group, now, run, running, wait_until

A = "198.51.100.1"


def test_reload_adds_a_group_without_touching_the_running_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="pycarp")
    first = group(source=A, vhid=1)
    second = group(source=A, vhid=2, addresses=["198.51.100.200/24"])
    files: list[DaemonConfig | ConfigError] = [
        DaemonConfig(groups=(group(source=A, vhid=1), second)),  # vhid 1 rebuilt, but equal
        ConfigError("group[2].vhid", "0", "an integer from 1 to 255"),
    ]

    def load() -> DaemonConfig:
        result = files.pop(0)
        if isinstance(result, ConfigError):
            raise result
        return result

    async def scenario() -> None:
        segment = FakeSegment()
        node = Node(FakeHost(A, {"eth0": segment}), [first], reload=load)
        async with running(node):
            await wait_until(lambda: node.state("1@eth0") is State.MASTER, 2, "1@eth0 master")
            driver = node.daemon.drivers[("eth0", 1)]
            reloaded_at = now()
            node.daemon.reload()
            await wait_until(lambda: node.state("2@eth0") is State.MASTER, 2, "2@eth0 master")
            node.daemon.reload()  # the broken file: logged, nothing changes
            await wait_until(lambda: "not reloaded" in caplog.text, 1, "reload refused")
            await wait_until(lambda: now() > reloaded_at + 2.2, 3, "adverts across the reload")

            assert node.daemon.drivers[("eth0", 1)] is driver
            assert [t.new for t in node.transitions if t.group == "1@eth0"] == [
                State.BACKUP,
                State.MASTER,
            ]
            times = [p.at for p in segment.adverts(vhid=1)]
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert len(gaps) >= 2
            assert gaps == [1.0] * len(gaps)  # the running group's timer never noticed
            assert set(node.daemon.drivers) == {("eth0", 1), ("eth0", 2)}
            assert "1 added, 0 changed, 0 removed, 1 untouched" in caplog.text
            assert "group[2].vhid" in caplog.text

    run(scenario())


def test_reload_restarts_a_changed_group_and_stops_a_removed_one() -> None:
    one = group(source=A, vhid=1)
    two = group(source=A, vhid=2, addresses=["198.51.100.200/24"])
    changed = group(source=A, vhid=1, advskew=50)

    async def scenario() -> None:
        segment = FakeSegment()
        node = Node(
            FakeHost(A, {"eth0": segment}),
            [one, two],
            reload=lambda: DaemonConfig(groups=(changed,)),
        )
        async with running(node):
            await wait_until(
                lambda: node.state("1@eth0") is node.state("2@eth0") is State.MASTER, 2, "masters"
            )
            node.daemon.reload()
            await wait_until(lambda: ("eth0", 2) not in node.daemon.drivers, 1, "2@eth0 stopped")
            last = segment.adverts(vhid=2)[-1].advert
            assert (last.advbase, last.advskew) == (255, 255)  # it bowed out

            def restarted() -> bool:
                driver = node.daemon.drivers.get(("eth0", 1))
                return driver is not None and driver.config == changed

            await wait_until(restarted, 1, "1@eth0 restarted with its new settings")
            await wait_until(lambda: node.state("1@eth0") is State.MASTER, 2, "1@eth0 again")
            assert [t.new for t in node.transitions if t.group == "1@eth0"] == [
                *(State.BACKUP, State.MASTER, State.INIT),  # the old settings, bowing out
                *(State.BACKUP, State.MASTER),  # the new ones
            ]
            await wait_until(
                lambda: node.host.addresses.addresses("eth0") == {changed.prefixes[0]}, 1, "vip"
            )

    run(scenario())
