"""Hanging hooks stay off the timing path, never outlive their time limit or the daemon: the
runtime kills their process group.

On the wall clock (``run_on_wall_clock``): the hooks are real processes, whose time the virtual
clock of the other runtime tests cannot see. Spacing is measured on the fake segment (event-loop
time of each send), with a tolerance for a loaded machine.
"""

from __future__ import annotations

import ipaddress
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
    run_on_wall_clock,
    running,
    spacing_of_master_adverts,
    stop,
    wait_until,
)

SOURCE = "198.51.100.1"
ADDRESSES = ("198.51.100.100/24", "198.51.100.101/24")
SPACING_TOLERANCE = 0.05


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
        run_on_wall_clock(scenario())
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
        run_on_wall_clock(scenario())
    finally:
        kill_leftovers(read_pids(pids))


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
        run_on_wall_clock(scenario())
    finally:
        kill_leftovers(read_pids(pids))
