"""Script health tracks in a running daemon, over the fake platform, with real check processes.

On the wall clock (``run_on_wall_clock``): the checks are real processes, whose time the
virtual clock of the other runtime tests cannot see. Timings are real but short (checks every
0.1-0.2 s). Every process a check starts is either reaped by the daemon or killed by the test's
teardown (by PID).
"""

from __future__ import annotations

import asyncio
import ipaddress
import pathlib
import shutil
import time
from collections.abc import Iterator

import pytest

from pycarp.config.tracks import TrackConfig, TrackKind
from pycarp.control.view import render
from pycarp.core.table import State
from pycarp.observe import facts
from pycarp.runtime.status import build_status

from .fakes import FakeHost, FakeSegment
from .support import (
    VIRTUAL,
    Node,
    Recorder,
    _executable,
    alive,
    group,
    hanging_script,
    kill_leftovers,
    read_pids,
    run_on_wall_clock,
    running,
    wait_until,
)

A, B = "198.51.100.1", "198.51.100.2"
PREFIX = ipaddress.ip_interface(VIRTUAL)


def script_track(
    argv: list[str],
    *,
    name: str = "web",
    interval: float = 0.1,
    timeout: float = 0.1,
    fall: int = 2,
    rise: int = 2,
    weight: int | None = None,
) -> TrackConfig:
    return TrackConfig(
        name=name,
        kind=TrackKind.SCRIPT,
        script=tuple(argv),
        interval=interval,
        timeout=timeout,
        fall=fall,
        rise=rise,
        weight=weight,
    )


def healthy_unless(directory: pathlib.Path, flag: pathlib.Path) -> list[str]:
    """A check that fails (status 7, saying why) while ``flag`` exists."""
    body = f"""#!/bin/sh
if [ -e '{flag}' ]; then echo "service down: 503"; exit 7; fi
echo fine
"""
    return [str(_executable(directory / "check-web", body))]


@pytest.fixture
def pids(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    path = tmp_path / "pids"
    yield path
    kill_leftovers(read_pids(path))


def two_nodes(tracks_of_a: list[TrackConfig]) -> tuple[Node, Node]:
    segment = FakeSegment()
    a = Node(FakeHost(A, {"eth0": segment}), [group(source=A)], tracks=tracks_of_a)
    b = Node(FakeHost(B, {"eth0": segment}), [group(source=B, advskew=100)])
    return a, b


def test_a_failing_fault_track_hands_over_and_its_recovery_takes_nothing_back(
    tmp_path: pathlib.Path,
) -> None:
    flag = tmp_path / "down"
    a, b = two_nodes([script_track(healthy_unless(tmp_path, flag))])
    seen = Recorder(a)

    async def scenario() -> None:
        async with running(a, b):
            await wait_until(lambda: a.state() is State.MASTER, 2, "A is master")
            await wait_until(lambda: PREFIX in a.host.addresses.addresses("eth0"), 1, "A holds")
            flag.touch()
            await wait_until(lambda: a.state() is State.BACKUP, 1, "A hands over")
            await wait_until(lambda: b.state() is State.MASTER, 0.5, "B takes over at once")
            await wait_until(lambda: not a.host.addresses.addresses("eth0"), 0.5, "A released")
            assert a.daemon.host.sources(("eth0", 1)).tracks == 240
            await asyncio.sleep(0.5)  # five more failures: said once
            (track,) = build_status(a.daemon)["tracks"]
            assert (track["state"], track["demotion"], track["mode"]) == ("down", 240, "fault")
            assert track["last_result"] == "failed"
            assert track["last_exit_status"] == 7
            assert track["last_output"] == ["service down: 503"]
            assert track["consecutive"] >= 6
            assert track["groups"] == ["1@eth0"]
            assert track["checks"]["failed"] == track["consecutive"]
            shown = render(build_status(a.daemon), time.time())  # what `pycarp status` prints
            assert "track web  DOWN since " in shown
            assert "fault, demotion 240 on 1@eth0" in shown
            assert "  last       failed: exited with status 7 (" in shown
            assert "  output     service down: 503" in shown
            assert "demotion   240 (tracks +240)" in shown
            flag.unlink()
            await wait_until(
                lambda: a.daemon.host.sources(("eth0", 1)).tracks == 0, 1, "A recovered"
            )
            await asyncio.sleep(0.3)
            assert (a.state(), b.state()) == (State.BACKUP, State.MASTER)  # no preempt

    run_on_wall_clock(scenario())
    failed = seen.of(facts.TrackCheckFailed)
    assert failed == [
        facts.TrackCheckFailed(
            name="web",
            result="failed",
            exit_status=7,
            detail="exited with status 7",
            output=("service down: 503",),
        )
    ]
    changes = [(f.up, f.demotion, f.reason) for f in seen.of(facts.TrackChanged)]
    assert changes == [(False, 240, "2 failures in a row"), (True, 0, "2 successes in a row")]
    hand_over = [f for f in seen.of(facts.StateChanged) if f.old == "MASTER"]
    assert [f.reason for f in hand_over][:1] == ["track web is down: handing over"]
    demotions = [f.sources for f in seen.of(facts.DemotionChanged)]
    assert {"tracks": 240} in demotions
    assert demotions[-1] == {}


def test_a_hanging_check_is_killed_with_its_children_at_its_timeout_and_counts_as_failed(
    tmp_path: pathlib.Path, pids: pathlib.Path
) -> None:
    check = hanging_script(tmp_path, "hang", pids)
    track = script_track([str(check)], interval=0.5, timeout=0.2, fall=1, weight=50)
    segment = FakeSegment()
    node = Node(FakeHost(A, {"eth0": segment}), [group(source=A)], tracks=[track])
    seen = Recorder(node)

    async def scenario() -> None:
        async with running(node):
            started = asyncio.get_running_loop().time()
            await wait_until(lambda: bool(seen.of(facts.TrackChanged)), 1, "the track goes down")
            took = asyncio.get_running_loop().time() - started
            assert 0.15 < took < 0.6
            assert node.daemon.host.sources(("eth0", 1)).tracks == 50
            assert node.daemon.host.tracks["web"].up is False
            (script, child) = read_pids(pids)[:2]
            assert not alive(script)
            assert not alive(child)  # the whole process group
            (status,) = build_status(node.daemon)["tracks"]
            assert status["last_result"] == "timed_out"
            assert status["last_detail"] == "still running after 0.2s: killed"

    run_on_wall_clock(scenario())
    assert seen.of(facts.TrackCheckFailed)[0] == facts.TrackCheckFailed(
        name="web",
        result="timed_out",
        exit_status=None,
        detail="still running after 0.2s: killed",
        output=(),
    )


def test_a_hundred_tracks_never_run_more_than_the_limit_of_scripts_at_once(
    tmp_path: pathlib.Path,
) -> None:
    running_dir = tmp_path / "running"
    running_dir.mkdir()
    log = tmp_path / "counts"
    body = f"""#!/bin/sh
touch '{running_dir}'/$$
ls '{running_dir}' | wc -l >> '{log}'
sleep 0.2
rm '{running_dir}'/$$
"""
    check = str(_executable(tmp_path / "slow-check", body))
    tracks = [
        script_track([check], name=f"t{n}", interval=5.0, timeout=2.0, fall=1) for n in range(100)
    ]
    node = Node(FakeHost(A, {"eth0": FakeSegment()}), [group(source=A)], tracks=tracks)

    async def scenario() -> None:
        async with running(node):
            runs = node.daemon.tracks.runs
            await wait_until(
                lambda: all(r.checks["ok"] == 1 for r in runs.values()), 8, "every track checked"
            )
            assert node.daemon.tracks.most_scripts_running == 8
            assert node.daemon.host.track_demotion(("eth0", 1)) == 0

    run_on_wall_clock(scenario(), timeout=20)
    counts = [int(line) for line in log.read_text().split()]
    assert len(counts) == 100
    assert max(counts) <= 8
    assert max(counts) >= 4  # they do run side by side


def test_a_check_that_cannot_start_any_more_is_an_error_result(tmp_path: pathlib.Path) -> None:
    program = tmp_path / "gone"
    shutil.copy("/bin/true", program)
    track = script_track([str(program)], fall=1, weight=30)
    node = Node(FakeHost(A, {"eth0": FakeSegment()}), [group(source=A)], tracks=[track])
    seen = Recorder(node)

    async def scenario() -> None:
        async with running(node):
            await wait_until(lambda: node.daemon.tracks.runs["web"].checks["ok"] > 0, 1, "ran")
            program.unlink()
            await wait_until(lambda: bool(seen.of(facts.TrackChanged)), 1, "down")

    run_on_wall_clock(scenario())
    (failed,) = seen.of(facts.TrackCheckFailed)
    assert failed.result == "error"
    assert failed.detail.startswith(f"cannot run {program}: ")
