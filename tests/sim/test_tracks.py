"""Health tracks on the virtual clock: every node faulty, a healthy node returning, flapping.

Each router checks its tracks every second from boot (t = 0, 1, 2, ...); a ``Service`` fault
between two checks is seen by the next one. ``TRANSIT`` is an advert's one-way time.
"""

from __future__ import annotations

import pytest
from sim_helpers import DELAY, became_master, changes, interval

from pycarp.core.table import State
from pycarp.core.track import TrackSpec
from pycarp.sim import Link, SimulationError, Simulator, analysis, group
from pycarp.sim import faults as fl
from pycarp.sim.router import SimTrack

TRANSIT = 2 * DELAY


def tracked(
    advskews: list[int], *, fall: int = 2, rise: int = 2, preempt: bool = False
) -> Simulator:
    """Hosts ``host1..N``, one group, each with a fault track ``web`` checked every second."""
    sim = Simulator(seed=3)
    track = SimTrack(TrackSpec(name="web", fall=fall, rise=rise), interval=1.0)
    for index, advskew in enumerate(advskews):
        sim.add_router(
            f"host{index + 1}",
            [group(1, advskew=advskew, preempt=preempt)],
            link=Link(delay=DELAY),
            tracks=[track],
        )
    return sim


def takeovers(sim: Simulator, after: float) -> list[tuple[float, str]]:
    return [(e.time, e.router) for e in changes(sim, after=after) if e.new is State.MASTER]


def held_by_one(sim: Simulator, start: float, end: float) -> bool:
    """Exactly one router held the address at every moment of [start, end] (0.1 s steps)."""
    steps = int((end - start) * 10)
    return all(len(sim.holders(1, at=start + step / 10)) == 1 for step in range(steps + 1))


def test_every_node_faulty_still_leaves_the_best_of_them_holding_the_address() -> None:
    sim = tracked([0, 100, 200])
    for name in ("host1", "host2", "host3"):
        sim.schedule(10.5, fl.Service(router=name, track="web", healthy=False))
    sim.run_until(60.0)
    # host1 hands over at its second failed check (t = 12) with a bow-out ...
    first = changes(sim, after=10.0, router="host1")[0]
    assert (first.time, first.old, first.new) == (12.0, State.MASTER, State.BACKUP)
    assert sim.advert_times("host1", 1, bow_outs=True)[-1] == 12.0
    # ... and, everybody being faulty (advskew 240 each), the backups take it after their
    # skew, 240/256 s. Equal on the wire, host2 and host3 both claim it for one transit time
    # (as kernel CARP nodes of equal timing do), the tie-break settles it, and the winner keeps
    # it: a dead service everywhere is no reason to hold the address nowhere.
    claims = takeovers(sim, after=12.0)
    when = 12.0 + TRANSIT + 240 / 256
    assert [who for _at, who in claims] == ["host2", "host3"]
    assert [at for at, _who in claims] == pytest.approx([when, when])
    (settled,) = changes(sim, after=when + TRANSIT / 2, router="host3")
    assert settled.new is State.BACKUP
    assert settled.time == pytest.approx(when + TRANSIT)
    assert held_by_one(sim, when + 0.1, 60.0)
    assert sim.masters(1) == ["host2"]
    episodes = analysis.split_brain_episodes(analysis.master_spans(sim.timeline, 1, sim.now))
    assert [round(e.end - e.start, 6) for e in episodes] == [TRANSIT]
    for name in ("host1", "host2", "host3"):
        host = sim.host(name)
        assert host is not None
        assert host.machine(("sim0", 1)).advskew_on_wire == 240


def test_a_healthy_node_returning_takes_over_at_once_without_preempt() -> None:
    sim = tracked([0, 100, 200])
    for name in ("host1", "host2", "host3"):
        sim.schedule(10.5, fl.Service(router=name, track="web", healthy=False))
    sim.schedule(30.5, fl.Service(router="host3", track="web", healthy=True))
    sim.run_until(60.0)
    # host3's checks at 31 and 32 succeed: demotion 0 at t = 32, and the faulty master's next
    # advert (every 1 + 240/256 s) makes it take over: the master was only a last resort.
    (when, who), *later = takeovers(sim, after=30.0)
    assert who == "host3"
    assert 32.0 < when <= 32.0 + interval(240) + TRANSIT
    assert later == []
    assert sim.masters(1) == ["host3"] == sim.holders(1)


def test_a_flapping_check_moves_the_address_at_most_once_with_fall_and_rise_3() -> None:
    def run(fall_rise: int) -> list[tuple[float, str]]:
        sim = tracked([0, 100], fall=fall_rise, rise=fall_rise, preempt=True)
        # host1's service dies at 10.5 for good (checks 11, 12, 13 fail: down at 13), then
        # flaps: two good checks, two bad ones, for a minute.
        sim.schedule(10.5, fl.Service(router="host1", track="web", healthy=False))
        for start in range(14, 74, 4):
            sim.schedule(start - 0.5, fl.Service(router="host1", track="web", healthy=True))
            sim.schedule(start + 1.5, fl.Service(router="host1", track="web", healthy=False))
        sim.run_until(80.0)
        return takeovers(sim, after=5.0)

    assert [who for _when, who in run(3)] == ["host2"]
    assert len(run(1)) > 20  # without hysteresis every flap moves it (preempt is on)


def test_a_flapping_check_that_never_fails_fall_times_in_a_row_moves_nothing() -> None:
    sim = tracked([0, 100], fall=3, rise=3, preempt=True)
    for start in range(10, 70, 4):  # two bad checks, two good ones
        sim.schedule(start + 0.5, fl.Service(router="host1", track="web", healthy=False))
        sim.schedule(start + 2.5, fl.Service(router="host1", track="web", healthy=True))
    sim.run_until(80.0)
    assert takeovers(sim, after=5.0) == []
    assert sim.masters(1) == ["host1"]


def test_a_restarted_daemon_finds_the_service_as_it_was() -> None:
    sim = tracked([0, 100])
    sim.schedule(10.5, fl.Service(router="host1", track="web", healthy=False))
    sim.schedule(20.0, fl.Stop(router="host1"))
    sim.schedule(25.0, fl.Start(router="host1"))
    sim.run_until(40.0)
    host = sim.host("host1")
    assert host is not None
    assert host.tracks["web"].up is False  # its first check, at once, said so
    assert host.machine(("sim0", 1)).advskew_on_wire == 240
    assert sim.masters(1) == ["host2"]
    assert became_master(sim, "host2", after=10.0) == pytest.approx(12.0 + TRANSIT + 100 / 256)


def test_a_service_fault_names_a_track_of_the_router() -> None:
    sim = tracked([0])
    with pytest.raises(SimulationError, match="no track 'db'"):
        sim.apply(fl.Service(router="host1", track="db", healthy=False))
    assert fl.Service(router="host1", track="web", healthy=False).kind == "service"
