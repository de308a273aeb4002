"""The daemon's operating services on the fake platform (no root): the control socket answers
with the live status, maintenance is saved before it applies and is back after a restart, a
ucarp-style daemon per vhid finds its own socket, every request is an event with its uid.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import pathlib
import random

from pycarp.config.model import DaemonConfig
from pycarp.control.client import request
from pycarp.core.table import State
from pycarp.observe.facts import ControlRequest
from pycarp.observe.stream import Published
from pycarp.runtime.daemon import Daemon

from .fakes import FakeHost, FakeSegment
from .support import Node, group, run, running, wait_until

A, B = "198.51.100.1", "198.51.100.2"


def operated(
    node: Node, control: pathlib.Path, state_dir: pathlib.Path, **extra: object
) -> list[Published]:
    """Give the node's daemon a control socket and a state directory; returns its events."""
    config = dataclasses.replace(
        node.daemon.config,
        control=control,
        state_dir=state_dir,
        **extra,  # type: ignore[arg-type]
    )
    node.daemon = Daemon(config, node.host.platform(), rng=random.Random(1))
    seen: list[Published] = []
    node.daemon.stream.subscribe(seen.append)
    return seen


async def ask(path: pathlib.Path, **payload: object) -> dict[str, object]:
    return await asyncio.to_thread(request, path, {"v": 1, **payload}, 5.0)


def test_maintenance_over_the_socket_hands_over_and_survives_a_restart(
    tmp_path: pathlib.Path,
) -> None:
    segment = FakeSegment()
    a = Node(FakeHost(A, {"eth0": segment}), [group(source=A, advskew=0)])
    b = Node(FakeHost(B, {"eth0": segment}), [group(source=B, advskew=100)])
    control, state = tmp_path / "a.sock", tmp_path / "state"
    events = operated(a, control, state)

    async def scenario() -> None:
        async with running(a, b):
            await wait_until(lambda: a.state() is State.MASTER, 3, "a is master")
            reply = await ask(control, command="maintenance", on=True)
            assert reply["ok"] is True
            assert reply["message"] == (
                "maintenance on: 1 group(s) demoted to the maximum; 1 master(s) handed over"
            )
            assert a.state() is State.BACKUP  # at once: the bow-out went out with the answer
            await wait_until(lambda: b.state() is State.MASTER, 1.0, "b took over")
            status = await ask(control, command="status")
            document = status["status"]
            assert isinstance(document, dict)
            [mine] = document["groups"]
            assert (mine["state"], mine["maintenance"], mine["advskew_on_wire"]) == (
                "BACKUP",
                True,
                240,
            )
            assert mine["master"]["address"] == B
        saved = json.loads((state / "1@eth0.json").read_text())
        assert saved["maintenance"] is True

    run(scenario())
    asked = [e.fact for e in events if isinstance(e.fact, ControlRequest)]
    assert [(f.uid, f.command, f.ok) for f in asked] == [
        (os.geteuid(), "maintenance", True),
        (os.geteuid(), "status", True),
    ]

    # Restart with the same state directory: maintenance is in force before any group runs.
    again = Node(FakeHost(A, {"eth0": FakeSegment()}), [group(source=A, advskew=0)])
    operated(again, control, state)

    async def restarted() -> None:
        async with running(again):
            assert again.daemon.host.maintenance is True
            await asyncio.sleep(1.5)  # alone: it takes over, but only as the last resort
            machine = again.daemon.host.machine(("eth0", 1))
            assert machine.advskew_on_wire == 240
            reply = await ask(control, command="maintenance", on=False)
            assert reply["ok"] is True
            assert machine.advskew_on_wire == 0
            assert again.daemon.host.sources(("eth0", 1)).total == 0

    run(restarted())
    assert json.loads((state / "1@eth0.json").read_text())["maintenance"] is False


def test_a_second_ucarp_style_daemon_takes_its_own_socket(tmp_path: pathlib.Path) -> None:
    segment = FakeSegment()
    first = Node(FakeHost(A, {"eth0": segment}), [group(source=A, vhid=1)])
    second = Node(FakeHost(A, {"eth0": segment}), [group(source=A, vhid=2)])
    shared = tmp_path / "pycarp.sock"
    operated(first, shared, tmp_path / "state", control_fallback=tmp_path / "1@eth0.sock")
    operated(second, shared, tmp_path / "state", control_fallback=tmp_path / "2@eth0.sock")
    assert second.daemon.config.state_name == "2@eth0"

    async def scenario() -> None:
        async with running(first), running(second):
            on_shared = await ask(shared, command="status")
            on_own = await ask(tmp_path / "2@eth0.sock", command="status")
            assert [g["vhid"] for g in on_shared["status"]["groups"]] == [1]  # type: ignore[index]
            assert [g["vhid"] for g in on_own["status"]["groups"]] == [2]  # type: ignore[index]

    run(scenario())


def test_without_a_fallback_a_taken_socket_stops_the_daemon_with_one_line(
    tmp_path: pathlib.Path,
) -> None:
    segment = FakeSegment()
    first = Node(FakeHost(A, {"eth0": segment}), [group(source=A, vhid=1)])
    shared = tmp_path / "pycarp.sock"
    operated(first, shared, tmp_path / "state")
    config = DaemonConfig(groups=(group(source=A, vhid=2),), control=shared)
    host = FakeHost(A, {"eth0": segment})

    async def scenario() -> None:
        async with running(first):
            daemon = Daemon(config, host.platform(), rng=random.Random(2))
            try:
                await daemon.run()
            except ExceptionGroup as failure:
                [error] = failure.exceptions
                assert str(error) == f"another pycarp answers on {shared}: give --control"
            else:
                raise AssertionError("the second daemon started on a taken socket")
            finally:
                host.close()

    run(scenario())
