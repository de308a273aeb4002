"""Slow effects stay off the timing path: hanging hooks and slow netlink never delay adverts.

Spacing is measured on the fake segment (event-loop time of each send). A hanging hook must
also never outlive its time limit or the daemon: the runtime kills its process group.
"""

from __future__ import annotations

import ipaddress
import itertools
import pathlib

import pytest

from pycarp.core.table import State
from pycarp.runtime import daemon as daemon_module

from .fakes import FakeHost, FakeSegment
from .support import (
    Node,
    alive,
    group,
    hanging_script,
    kill_leftovers,
    read_calls,
    read_pids,
    recording_script,
    run,
    running,
    stop,
    wait_until,
)

SOURCE = "198.51.100.1"
ADDRESSES = ("198.51.100.100/24", "198.51.100.101/24")
SPACING_TOLERANCE = 0.05


def spacing_of_master_adverts(node: Node, count: int) -> list[float]:
    adverts = node.host.segments["eth0"].adverts(source=node.host.source)
    times = [p.at for p in adverts[:count]]
    return [b - a for a, b in itertools.pairwise(times)]


def assert_regular(gaps: list[float]) -> None:
    assert gaps, "no adverts measured"
    for gap in gaps:
        assert abs(gap - 1.0) <= SPACING_TOLERANCE, gaps


def test_a_hook_past_its_time_limit_is_killed_with_its_children(tmp_path: pathlib.Path) -> None:
    pids = tmp_path / "pids"
    up = hanging_script(tmp_path, "up", pids)

    async def scenario() -> None:
        host = FakeHost(SOURCE, {"eth0": FakeSegment()})
        node = Node(host, [group(source=SOURCE, upscript=up, script_timeout=1)])
        async with running(node):
            await wait_until(lambda: len(read_pids(pids)) == 2, 2.5, "the up script started")
            started = node.became(State.MASTER)[0]
            hooks = node.daemon.drivers[("eth0", 1)].counters.hooks
            killed = await wait_until(lambda: hooks.timeouts == 1, 2, "counted as timed out")
            assert 0.9 <= killed - started <= 1.5
            await wait_until(lambda: not any(map(alive, read_pids(pids))), 1, "group killed")
            assert (hooks.runs, hooks.failures) == (1, 0)
            assert node.state() is State.MASTER  # a broken script does not change the state
            assert any("timed out 1" in line for line in node.daemon.status_lines())

    try:
        run(scenario())
    finally:
        kill_leftovers(read_pids(pids))


def test_a_hanging_hook_delays_no_advert_and_dies_with_the_daemon(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids = tmp_path / "pids"
    up = hanging_script(tmp_path, "up", pids)
    monkeypatch.setattr(daemon_module, "SHUTDOWN_DRAIN_TIMEOUT", 0.5)

    async def scenario() -> None:
        host = FakeHost(SOURCE, {"eth0": FakeSegment()})
        config = group(
            source=SOURCE,
            addresses=ADDRESSES,
            upscript=up,
            address_mode="native",
            script_timeout=3600,
        )
        node = Node(host, [config])
        async with running(node):
            await wait_until(lambda: node.state() is State.MASTER, 2, "master")
            segment = host.segments["eth0"]
            await wait_until(lambda: len(segment.sent) >= 5, 5, "five adverts")
            assert len(read_pids(pids)) == 2
            assert all(map(alive, read_pids(pids)))
            assert_regular(spacing_of_master_adverts(node, 5))
            # The address queue is not stuck behind the hanging script queue.
            assert host.addresses.addresses("eth0") == {
                ipaddress.ip_interface(a) for a in ADDRESSES
            }
            assert await stop(node) == 0
            assert host.addresses.addresses("eth0") == set()
            assert not any(map(alive, read_pids(pids))), "the hook outlived the daemon"

    try:
        run(scenario())
    finally:
        kill_leftovers(read_pids(pids))


def test_slow_netlink_delays_no_advert_and_no_election() -> None:
    async def scenario() -> None:
        host = FakeHost(SOURCE, {"eth0": FakeSegment()}, address_delay=0.5)
        node = Node(host, [group(source=SOURCE, addresses=ADDRESSES)])
        async with running(node):
            became_backup = node.became(State.BACKUP)[0]
            # Releasing the two stale addresses takes 1 s and runs while the timer runs.
            await wait_until(lambda: node.state() is State.MASTER, 2, "master")
            assert abs(node.became(State.MASTER)[0] - became_backup - 1.0) <= SPACING_TOLERANCE
            await wait_until(lambda: len(host.segments["eth0"].sent) >= 4, 4, "four adverts")
            assert_regular(spacing_of_master_adverts(node, 4))
            await wait_until(lambda: len(host.addresses.addresses("eth0")) == 2, 2, "claimed")
            assert await stop(node) == 0
            assert host.addresses.addresses("eth0") == set()

    run(scenario())


def test_a_hanging_up_script_is_cut_short_at_exit_and_the_down_script_still_runs(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scripts mode: the down script removes the address, so it must run even after a hang."""
    pids = tmp_path / "pids"
    calls = tmp_path / "calls"
    up = hanging_script(tmp_path, "up", pids)
    down = recording_script(tmp_path, "down", calls)
    monkeypatch.setattr(daemon_module, "SHUTDOWN_DRAIN_TIMEOUT", 0.5)

    async def scenario() -> None:
        host = FakeHost(SOURCE, {"eth0": FakeSegment()})
        config = group(
            source=SOURCE,
            addresses=ADDRESSES[:1],
            upscript=up,
            downscript=down,
            neutral=True,
            script_timeout=3600,
        )
        node = Node(host, [config])
        async with running(node):
            await wait_until(lambda: node.state() is State.MASTER, 2, "master")
            await wait_until(lambda: len(read_pids(pids)) == 2, 2, "up script hanging")
            assert await stop(node) == 0
        assert [c.script for c in read_calls(calls)] == ["down"]
        assert not any(map(alive, read_pids(pids))), "the hook outlived the daemon"

    try:
        run(scenario())
    finally:
        kill_leftovers(read_pids(pids))
