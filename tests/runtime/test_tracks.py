"""Interface and file health tracks in a running daemon, over the fake platform.

On virtual time (tests/runtime/virtual_time.py): checks every 0.1 s of the loop's clock, and the
time of each track change is exact. Script tracks run real processes: test_track_scripts.py.
"""

from __future__ import annotations

import pathlib

from pycarp.config.tracks import TrackConfig, TrackKind
from pycarp.observe import facts
from pycarp.platform.ports import LinkState

from .fakes import FakeHost, FakeSegment
from .support import Node, Recorder, group, run, running, wait_until

A = "198.51.100.1"


def test_an_interface_track_follows_carrier_and_operstate() -> None:
    track = TrackConfig(
        name="uplink", kind=TrackKind.INTERFACE, interface="eth1", interval=0.1, fall=1, rise=1
    )
    host = FakeHost(A, {"eth0": FakeSegment()})
    host.link_states["eth1"] = LinkState(True, "UP")
    node = Node(host, [group(source=A)], tracks=[track])
    seen = Recorder(node)

    def demotion() -> int:
        return node.daemon.host.track_demotion(("eth0", 1))

    async def scenario() -> None:
        async with running(node):
            await wait_until(lambda: node.daemon.tracks.runs["uplink"].checks["ok"] > 0, 1, "up")
            host.link_states["eth1"] = LinkState(True, "LOWERLAYERDOWN")
            await wait_until(lambda: demotion() == 240, 1, "operstate down")
            host.link_states["eth1"] = LinkState(True, "UNKNOWN")
            await wait_until(lambda: demotion() == 0, 1, "UNKNOWN counts as up")
            host.link_states["eth1"] = LinkState(False, "DOWN")
            await wait_until(lambda: demotion() == 240, 1, "carrier lost")
            del host.link_states["eth1"]
            await wait_until(lambda: len(seen.of(facts.TrackCheckFailed)) == 3, 1, "gone")

    run(scenario())
    details = [f.detail for f in seen.of(facts.TrackCheckFailed)]
    assert details == [
        "operstate LOWERLAYERDOWN",
        "no carrier (operstate DOWN)",
        "no interface eth1",
    ]


def test_a_file_track_applies_its_value_and_its_weight_when_unreadable(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "weight"
    path.write_text("30\n")
    track = TrackConfig(
        name="app", kind=TrackKind.FILE, file=path, interval=0.1, fall=2, rise=1, weight=90
    )
    node = Node(FakeHost(A, {"eth0": FakeSegment()}), [group(source=A)], tracks=[track])
    seen = Recorder(node)

    def demotion() -> int:
        return node.daemon.host.sources(("eth0", 1)).tracks

    async def scenario() -> None:
        async with running(node):
            await wait_until(lambda: demotion() == 30, 1, "the file's value")
            path.write_text("  500 ")
            await wait_until(lambda: demotion() == 240, 1, "clamped")
            path.write_text("busy")
            await wait_until(lambda: demotion() == 90, 1, "garbage: the weight")
            path.unlink()
            await wait_until(lambda: len(seen.of(facts.TrackCheckFailed)) == 2, 1, "missing")
            path.write_text("0")
            await wait_until(lambda: demotion() == 0, 1, "back")

    run(scenario())
    details = [f.detail for f in seen.of(facts.TrackCheckFailed)]
    assert details == ["not an integer: 'busy'", "cannot open: No such file or directory"]
    ups = [(f.up, f.demotion) for f in seen.of(facts.TrackChanged)]
    assert ups == [(True, 30), (True, 240), (False, 90), (True, 0)]
