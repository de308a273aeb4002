"""Builders and a harness for running whole daemons over fake segments in one event loop.

:func:`run` runs a scenario on virtual time (tests/runtime/virtual_time.py): the daemons' timers
are the real ones (advbase 1 s; with ``dead_ratio`` 1 a group's master-down interval is
``1 + advskew/256`` s), but the loop's clock jumps to the next timer whenever nothing can run,
so a scenario of seconds takes milliseconds and every recorded time (a state change, an advert
on the segment) is exact: tests compare intervals with ``==``. :func:`run_on_wall_clock` is for
the scenarios whose daemons run real processes (hooks, script tracks), which take real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import os
import pathlib
import random
import stat
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from pycarp.config.build import RawGroup, build_group
from pycarp.config.model import DaemonConfig, GroupConfig
from pycarp.config.tracks import TrackConfig
from pycarp.core.actions import StateChanged
from pycarp.core.table import State
from pycarp.observe import facts
from pycarp.observe.stream import Published
from pycarp.runtime.daemon import Daemon
from pycarp.runtime.timers import Timers

from . import virtual_time
from .fakes import FakeHost

SECRET = "rt-s3cret-passw0rd"  # test data; the tests check it never leaks
VIRTUAL = "198.51.100.100/24"
T = TypeVar("T")
F = TypeVar("F", bound=facts.Fact)


def group(
    *,
    source: str,
    vhid: int = 1,
    interface: str = "eth0",
    addresses: Sequence[str] = (VIRTUAL,),
    advskew: int = 0,
    dead_ratio: int = 1,
    **extra: Any,
) -> GroupConfig:
    """A group through the real config builder (the same path flags and TOML take)."""
    raw = RawGroup(
        interface=interface,
        source=source,
        vhid=vhid,
        passphrase=SECRET,
        addresses=list(addresses),
        advskew=advskew,
        dead_ratio=dead_ratio,
        **extra,
    )
    return build_group(raw, lambda field: field)


@dataclasses.dataclass(frozen=True, slots=True)
class Transition:
    at: float  # event-loop time
    group: str
    old: State
    new: State
    reason: str


class Node:
    """One daemon on one fake host, recording the state changes it reports."""

    def __init__(
        self,
        host: FakeHost,
        groups: Sequence[GroupConfig],
        *,
        reload: Callable[[], DaemonConfig] | None = None,
        seed: int = 1,
        tracks: Sequence[TrackConfig] = (),
        timers: Timers | None = None,
    ) -> None:
        self.host = host
        self.transitions: list[Transition] = []
        self.daemon = Daemon(
            DaemonConfig(groups=tuple(groups), tracks=tuple(tracks)),
            host.platform(),
            rng=random.Random(seed),
            on_state=self._record,
            reload=reload,
            timers=timers,
        )
        self.task: asyncio.Task[int] | None = None

    def _record(self, config: GroupConfig, change: StateChanged) -> None:
        now = asyncio.get_running_loop().time()
        self.transitions.append(Transition(now, config.name, change.old, change.new, change.reason))

    def state(self, name: str = "1@eth0") -> State:
        """The group's current state (INIT once the daemon has stopped it)."""
        for driver in self.daemon.drivers.values():
            if driver.config.name == name:
                return driver.state
        return State.INIT

    def became(self, new: State, name: str = "1@eth0") -> list[float]:
        return [t.at for t in self.transitions if t.group == name and t.new is new]

    def crash(self) -> None:
        """Kill the daemon without a bow-out, like kill -9: its task is simply cancelled."""
        assert self.task is not None
        self.task.cancel()


def now() -> float:
    """The running event loop's clock (what the daemon and the fake segment time-stamp with)."""
    return asyncio.get_running_loop().time()


async def wait_until(condition: Callable[[], bool], within: float, what: str) -> float:
    """Poll ``condition`` every 5 ms of loop time; return the loop time it was seen true, or
    fail the test. The time is the poll's: exact times come from what the daemons recorded
    (:meth:`Node.became`, the segment's packets)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not within {within}s: {what}")
        await asyncio.sleep(0.005)
    return loop.time()


@contextlib.asynccontextmanager
async def running(*nodes: Node) -> AsyncIterator[None]:
    """Start every node's daemon; on exit stop those still running and release every fd."""
    for node in nodes:
        node.task = asyncio.create_task(node.daemon.run())
    try:
        await asyncio.wait_for(asyncio.gather(*(n.daemon.started.wait() for n in nodes)), timeout=5)
        yield
    finally:
        for node in nodes:
            node.daemon.request_stop()
        tasks = [n.task for n in nodes if n.task is not None]
        _done, pending = await asyncio.wait(tasks, timeout=15)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for node in nodes:
            node.host.close()
    assert not pending, "a daemon did not stop within 15 s of request_stop()"


async def stop(node: Node) -> int:
    """Bow out (as on SIGTERM) and return the daemon's exit code."""
    assert node.task is not None
    node.daemon.request_stop()
    return await asyncio.wait_for(node.task, timeout=15)


def run(scenario: Coroutine[Any, Any, T], *, timeout: float = 30) -> T:
    """Run one scenario on virtual time (tests/runtime/virtual_time.py): a hung scenario is
    cancelled after ``timeout`` virtual seconds, and cleaned up."""
    return virtual_time.run(scenario, timeout=timeout)


def run_on_wall_clock(scenario: Coroutine[Any, Any, T], *, timeout: float = 30) -> T:
    """Run one scenario on an ordinary event loop: for tests whose daemons run real
    subprocesses (hooks, script tracks), which take real time the virtual clock cannot see."""
    return asyncio.run(asyncio.wait_for(scenario, timeout))


def spacing_of_master_adverts(node: Node, count: int) -> list[float]:
    """The gaps between a host's first ``count`` adverts on its eth0 segment (loop time)."""
    adverts = node.host.segments["eth0"].adverts(source=node.host.source)
    times = [p.at for p in adverts[:count]]
    return [b - a for a, b in itertools.pairwise(times)]


class Recorder:
    """Every fact a node's daemon publishes, in order."""

    def __init__(self, node: Node) -> None:
        self.facts: list[facts.Fact] = []
        node.daemon.stream.subscribe(self._take)

    def _take(self, published: Published) -> None:
        self.facts.append(published.fact)

    def of(self, kind: type[F]) -> list[F]:
        return [f for f in self.facts if isinstance(f, kind)]


# -- scripts -------------------------------------------------------------------------------

_ENV_KEYS = (
    "PYCARP_VHID",
    "PYCARP_INTERFACE",
    "PYCARP_ADDRESSES",
    "PYCARP_STATE",
    "PYCARP_OLD_STATE",
    "PYCARP_NEW_STATE",
    "PYCARP_REASON",
)


@dataclasses.dataclass(frozen=True, slots=True)
class ScriptCall:
    script: str
    argv: list[str]
    env: dict[str, str]


def recording_script(directory: pathlib.Path, name: str, log: pathlib.Path) -> pathlib.Path:
    """A shell script that appends one line per call: its name, its arguments, PYCARP_* env."""
    keys = " ".join(_ENV_KEYS)
    body = f"""#!/bin/sh
line="{name}"
for arg in "$@"; do line="$line	$arg"; done
for key in {keys}; do
    eval "value=\\${{$key-<unset>}}"
    line="$line	$key=$value"
done
printf '%s\\n' "$line" >> '{log}'
"""
    return _executable(directory / name, body)


def hanging_script(directory: pathlib.Path, name: str, pids: pathlib.Path) -> pathlib.Path:
    """A script that records its pid and a child's, then waits 60 s (for the child)."""
    body = f"""#!/bin/sh
echo $$ >> '{pids}'
sleep 60 &
echo $! >> '{pids}'
wait
"""
    return _executable(directory / name, body)


def _executable(path: pathlib.Path, body: str) -> pathlib.Path:
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def read_calls(log: pathlib.Path) -> list[ScriptCall]:
    if not log.exists():
        return []
    calls = []
    for line in log.read_text().splitlines():
        fields = line.split("\t")
        argv = [f for f in fields[1:] if not f.startswith("PYCARP_")]
        env = dict(f.split("=", 1) for f in fields[1:] if f.startswith("PYCARP_"))
        calls.append(ScriptCall(fields[0], argv, env))
    return calls


def read_pids(path: pathlib.Path) -> list[int]:
    return [int(x) for x in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie awaiting its reaper counts as gone)."""
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return fields[0] != "Z"


def kill_leftovers(pids: Sequence[int]) -> None:
    """Teardown guard: whatever the runtime did, no test process outlives its test."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, 9)
