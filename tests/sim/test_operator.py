"""The operator's levers on simulated routers: maintenance, negative demotion, forced states,
hand-over (SIGUSR2), per-group demotion, and what a restart keeps.

Every router runs the production Host, so these are the daemon's behaviours, on a virtual
clock. ``TRANSIT`` is the one-way time of an advert between two routers (no jitter).
"""

from __future__ import annotations

import random

import pytest
from sim_helpers import DELAY, became_master, changes, interval, md, segment

from pycarp.core.events import ForcedState
from pycarp.core.table import State
from pycarp.core.timing import wire_advskew
from pycarp.sim import Link, SimulationError, Simulator, analysis, group
from pycarp.sim import faults as fl
from pycarp.sim.records import Delivery

TRANSIT = 2 * DELAY
JITTER = 0.05  # per link, in the negative-demotion runs
MAX_TRANSIT = 2 * (DELAY + JITTER)


def split_brains(sim: Simulator, vhid: int = 1) -> list[analysis.Span]:
    return analysis.split_brain_episodes(analysis.master_spans(sim.timeline, vhid, sim.now))


def last_advert(sim: Simulator, router: str, before: float, vhid: int = 1) -> float:
    return max(t for t in sim.advert_times(router, vhid) if t <= before)


def always_master(sim: Simulator, router: str, start: float, end: float, vhid: int = 1) -> bool:
    """``router`` alone was MASTER all through [start, end] (read from the timeline)."""
    spans = analysis.master_spans(sim.timeline, vhid, sim.now)
    return all(s.masters == {router} for s in spans if s.end > start and s.start < end)


# -- (a) maintenance ------------------------------------------------------------------------------


def test_maintenance_hands_over_within_the_backups_skew_and_stays_backup() -> None:
    sim = segment([0, 100])
    sim.schedule(10.2, fl.Maintenance(router="host1", on=True))
    sim.run_until(60.0)
    assert sim.advert_times("host1", 1, bow_outs=True)[-1] == 10.2  # the one bow-out
    takeover = became_master(sim, "host2", after=10.0)
    assert takeover == pytest.approx(10.2 + TRANSIT + 100 / 256)  # its skew, not 3 s
    assert always_master(sim, "host2", takeover, 60.0)
    assert changes(sim, router="host1", after=10.0)[-1].new is State.BACKUP
    assert split_brains(sim) == []
    host = sim.host("host1")
    assert host is not None
    assert host.machine(("sim0", 1)).advskew_on_wire == 240
    # the other dies: the maintained router is the last resort, after its own master-down
    sim.apply(fl.Crash(router="host2"))
    sim.run_until(80.0)
    heard = last_advert(sim, "host2", 60.0) + TRANSIT
    assert became_master(sim, "host1", after=60.0) == pytest.approx(heard + md(240))
    assert sim.masters(1) == ["host1"]
    # host2 comes back (no preempt): host1 advertises the ceiling, a last resort only, so host2
    # takes over at its first advert heard, and host1 yields to it.
    sim.apply(fl.Restart(router="host2"))
    sim.run_until(100.0)
    back = became_master(sim, "host2", after=80.0)
    assert back <= last_advert(sim, "host1", back) + TRANSIT + 1e-9
    assert always_master(sim, "host2", back + TRANSIT, 100.0)


def test_maintenance_off_with_preempt_takes_the_group_back() -> None:
    sim = segment([0, 100], preempt=True)
    sim.schedule(10.2, fl.Maintenance(router="host1", on=True))
    sim.schedule(30.2, fl.Maintenance(router="host1", on=False))
    sim.run_until(60.0)
    assert sim.masters(1, at=30.0) == ["host2"]  # preempt does not beat maintenance
    back = became_master(sim, "host1", after=30.2)
    next_heard = min(t for t in sim.advert_times("host2", 1) if t > 30.2) + TRANSIT
    assert back == pytest.approx(next_heard)  # at the first advert it hears: it is faster
    assert sim.masters(1) == ["host1"]
    assert all(s.length <= TRANSIT + 1e-9 for s in split_brains(sim))  # until host2 hears it
    host = sim.host("host1")
    assert host is not None
    assert host.sources(("sim0", 1)).total == 0


def test_a_router_restarted_in_maintenance_comes_back_in_it() -> None:
    sim = segment([0, 100])
    sim.schedule(10.2, fl.Maintenance(router="host1", on=True))
    sim.schedule(20.0, fl.Crash(router="host1"))
    sim.schedule(25.0, fl.Restart(router="host1"))
    sim.run_until(40.0)
    host = sim.host("host1")
    assert host is not None
    assert host.maintenance
    assert host.machine(("sim0", 1)).advskew_on_wire == 240
    assert sim.masters(1) == ["host2"]


def test_maintenance_needs_a_running_daemon() -> None:
    sim = segment([0, 100])
    sim.run_until(5.0)
    sim.apply(fl.Stop(router="host1"))
    with pytest.raises(SimulationError, match="its daemon is not running"):
        sim.apply(fl.Maintenance(router="host1", on=True))


# -- (b) negative demotion (FreeBSD carp.sh negative_demotion) ---------------------------------


def _negative_demotion_run(seed: int, loss: float) -> tuple[Simulator, list[int]]:
    """Two preempting routers, random advskews and boot times; one is demoted by -N at t=8."""
    rng = random.Random(seed)
    advskews = [rng.choice((0, 50, 100, 240)) for _ in range(2)]
    sim = Simulator(seed=seed, record_packets=True)
    for index, advskew in enumerate(advskews):
        sim.add_router(
            f"host{index + 1}",
            [group(1, advskew=advskew, preempt=True)],
            link=Link(loss_in=loss, delay=DELAY, jitter=JITTER),
            start_at=rng.uniform(0.0, 4.0),
        )
    demoted = rng.randrange(2)
    amount = rng.choice((1, 100, 240, 1000, 1_000_000))
    sim.schedule(8.0, fl.Demote(router=f"host{demoted + 1}", mode="-", amount=amount))
    sim.run_until(120.0)
    sim.apply(fl.SetLoss(probability=0.0))
    sim.run_until(140.0)
    on_wire = [wire_advskew(a, -amount if i == demoted else 0) for i, a in enumerate(advskews)]
    return sim, on_wire


def _first_delivery(sim: Simulator, sender: str, receiver: str, after: float) -> float:
    return min(
        (d.time for d in sim.deliveries if _between(d, sender, receiver) and d.sent_at >= after),
        default=float("inf"),
    )


def _between(delivery: Delivery, sender: str, receiver: str) -> bool:
    return delivery.sender == sender and delivery.receiver == receiver


@pytest.mark.parametrize("seed", range(50))
def test_negative_demotion_never_gives_two_masters(seed: int) -> None:
    """Two masters exist only while one advert is on its way: when two routers boot within a
    transit of each other, or when the demoted backup preempts and the old master has yet to
    hear it. The demotion never makes both think they are better (no advskew below 0)."""
    sim, on_wire = _negative_demotion_run(seed, loss=0.0)
    assert all(e.length <= MAX_TRANSIT for e in split_brains(sim)), on_wire
    settled = 8.0 + 2 * interval(240) + 2 * MAX_TRANSIT  # the demotion's effect is over
    assert [e for e in sim.timeline if e.time > settled] == [], on_wire  # no flapping
    masters = sim.masters(1)
    assert len(masters) == 1
    if on_wire[0] != on_wire[1]:  # otherwise either may keep it: equal is never "better"
        assert masters == [f"host{on_wire.index(min(on_wire)) + 1}"]
    assert {a.advskew for a in sim.adverts if a.time > settled} == {min(on_wire)}


@pytest.mark.parametrize("seed", range(50))
def test_negative_demotion_under_loss_converges_and_no_split_outlives_an_exchange(
    seed: int,
) -> None:
    """Loss alone makes a backup take over while the master lives; the demotion must not keep
    two masters apart: once each has heard the other, one of them has stepped down."""
    sim, on_wire = _negative_demotion_run(seed, loss=(0.1, 0.3)[seed % 2])
    for episode in split_brains(sim):
        a, b = sorted(episode.masters)
        settled_by = max(
            _first_delivery(sim, a, b, episode.start), _first_delivery(sim, b, a, episode.start)
        )
        assert episode.end <= settled_by, (episode, on_wire)
    assert len(sim.masters(1)) == 1
    assert sim.masters(1, at=sim.now) == sim.holders(1)


# -- (c) forced states ----------------------------------------------------------------------------


def test_forcing_master_on_a_worse_backup_yields_back_within_a_round_trip() -> None:
    sim = segment([0, 100])
    sim.schedule(10.5, fl.Force(router="host2", state=ForcedState.MASTER))
    sim.run_until(30.0)
    assert became_master(sim, "host2", after=10.0) == 10.5
    (episode,) = split_brains(sim)
    # host1 hears the slower master one transit later and answers at once; host2 yields
    # when that answer arrives: two masters for exactly one round trip, never longer
    assert episode.start == 10.5
    assert episode.end == pytest.approx(10.5 + 2 * TRANSIT)
    assert sim.masters(1) == ["host1"]


def test_forcing_master_on_a_better_backup_makes_the_old_master_yield_in_one_transit() -> None:
    sim = Simulator(seed=1)
    sim.add_router("host1", [group(1, advskew=100)], link=Link(delay=DELAY))
    sim.add_router("host2", [group(1, advskew=0)], link=Link(delay=DELAY), start_at=6.0)
    sim.schedule(10.5, fl.Force(router="host2", state=ForcedState.MASTER))
    sim.run_until(30.0)
    assert sim.masters(1, at=10.0) == ["host1"]  # no preempt: the better one waited
    (episode,) = split_brains(sim)
    assert episode.start == 10.5
    assert episode.end == pytest.approx(10.5 + TRANSIT)
    assert always_master(sim, "host2", 10.5 + TRANSIT, 30.0)


def test_forcing_backup_on_the_master_bows_out_so_the_backup_takes_over_within_its_skew() -> None:
    """FreeBSD steps down silently; the best host (the one forced) would retake after its own
    master-down interval, seconds without a master. pycarp bows out (docs/behaviour.md)."""
    sim = segment([0, 100])
    sim.run_until(10.0)
    forced_at = last_advert(sim, "host1", 10.0) + 0.5
    sim.schedule(forced_at, fl.Force(router="host1", state=ForcedState.BACKUP))
    sim.run_until(40.0)
    takeover = became_master(sim, "host2", after=10.0)
    assert takeover == pytest.approx(forced_at + TRANSIT + 100 / 256)
    assert sim.masters(1, at=forced_at + 0.01) == []
    assert always_master(sim, "host2", takeover, 40.0)  # host1 hears it: no preempt, it stays
    assert split_brains(sim) == []
    assert [a.bow_out for a in sim.adverts if a.router == "host1"].count(True) == 1


# -- (d) hand-over (SIGUSR2) ---------------------------------------------------------------------


def test_hand_over_lets_the_best_backup_take_over_within_its_skew() -> None:
    sim = segment([0, 100, 50])
    sim.schedule(10.2, fl.HandOver(router="host1"))
    sim.run_until(40.0)
    takeover = became_master(sim, "host3", after=10.0)
    assert takeover == pytest.approx(10.2 + TRANSIT + 50 / 256)
    assert always_master(sim, "host3", takeover, 40.0)
    assert changes(sim, router="host2", after=10.0) == []  # host2 heard host3 first
    assert split_brains(sim) == []
    assert sim.state("host1", 1) is State.BACKUP


def test_hand_over_with_preempt_is_taken_back_at_the_new_masters_first_advert() -> None:
    sim = segment([0, 100], preempt=True)
    sim.schedule(10.2, fl.HandOver(router="host1"))
    sim.run_until(20.0)
    takeover = became_master(sim, "host2", after=10.0)
    assert became_master(sim, "host1", after=10.2) == pytest.approx(takeover + TRANSIT)
    assert sim.masters(1) == ["host1"]


# -- per-group demotion, and what a restart keeps ------------------------------------------------


def test_a_group_demotion_moves_that_group_only() -> None:
    sim = segment([0, 100], second_vhid_advskews=[0, 100], preempt=True)
    sim.schedule(10.2, fl.Demote(router="host1", mode="+", amount=150, vhid=1))
    sim.run_until(30.0)
    assert sim.masters(1) == ["host2"]
    assert sim.masters(2) == ["host1"]
    advskews = {a.advskew for a in sim.adverts if a.router == "host1" and a.vhid == 2}
    assert advskews == {0}
    assert became_master(sim, "host2", after=10.2) <= 10.2 + interval(150) + TRANSIT


def test_a_restart_keeps_the_host_wide_demotion_but_not_a_groups() -> None:
    sim = segment([0, 100], second_vhid_advskews=[0, 100])
    sim.run_until(5.0)
    sim.apply(fl.SetDemotion(router="host1", demotion=20))
    sim.apply(fl.Demote(router="host1", mode="+", amount=5))
    sim.apply(fl.Demote(router="host1", mode="+", amount=30, vhid=2))
    sim.apply(fl.Crash(router="host1"))
    sim.apply(fl.Restart(router="host1"))
    host = sim.host("host1")
    assert host is not None
    assert host.sources(("sim0", 1)).operator == host.sources(("sim0", 2)).operator == 25
    assert host.sources(("sim0", 2)).group_operator == 0
    with pytest.raises(SimulationError, match="no group 9"):
        sim.apply(fl.Demote(router="host1", mode="+", amount=1, vhid=9))
    with pytest.raises(ValueError, match="demote mode"):
        fl.Demote(router="host1", mode="*", amount=1)
