"""VRRPv3 groups in the simulator: the same core, RFC 9568's timings on a virtual clock."""

from __future__ import annotations

import pytest

from pycarp.cli.simulate import main as simulate_main
from pycarp.core.table import State
from pycarp.core.vrrp import down_interval, skew_time
from pycarp.sim import Simulator, vrrp_group
from pycarp.sim import faults as fl
from pycarp.sim import scenarios as sc

INTERVAL_CS = 10  # 0.1 s


def three_routers(sim: Simulator) -> None:
    for name, priority in (("a", 200), ("b", 100), ("c", 50)):
        sim.add_router(name, [vrrp_group(priority=priority, interval_cs=INTERVAL_CS)])


def first_master_after(sim: Simulator, router: str, after: float) -> float:
    return next(
        e.time
        for e in sim.timeline
        if e.router == router and e.new is State.MASTER and e.time > after
    )


def test_election_crash_return_and_priority_0_at_a_tenth_of_a_second() -> None:
    sim = Simulator(seed=3)
    three_routers(sim)
    sim.run_until(1.0)
    assert sim.masters(1) == ["a"]
    assert first_master_after(sim, "a", 0.0) == pytest.approx(down_interval(200, INTERVAL_CS))

    sim.schedule(2.0, fl.Crash(router="a"))
    sim.run_until(3.0)
    last = max(t for t in sim.advert_times("a", 1) if t < 2.0)
    took = first_master_after(sim, "b", 2.0)
    assert took - last == pytest.approx(down_interval(100, INTERVAL_CS), abs=0.002)
    assert sim.masters(1) == ["b"]

    sim.schedule(3.0, fl.Restart(router="a"))  # preempt (on by default) brings it back
    sim.run_until(4.0)
    assert sim.masters(1) == ["a"]
    assert first_master_after(sim, "a", 3.0) - 3.0 == pytest.approx(
        down_interval(200, INTERVAL_CS), abs=0.002
    )

    sim.schedule(5.0, fl.Stop(router="a"))  # priority 0: b after its skew only
    sim.run_until(6.0)
    assert first_master_after(sim, "b", 5.0) - 5.0 == pytest.approx(
        skew_time(100, INTERVAL_CS), abs=0.002
    )
    assert sim.masters(1) == ["b"]
    assert [e.router for e in sim.timeline if e.time > 5.0 and e.new is State.MASTER] == ["b"]


def test_pycarp_simulate_runs_the_scenarios_as_vrrp3(capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate_main(["bow-out", "--vrrp3", "--summary-only"]) == 0
    out = capsys.readouterr().out
    assert "3 hosts (VRRPv3 priority 254/154/54), interval 1 s, preempt on" in out
    # host2 (priority 154) takes over after its skew, 102/256 s after the priority-0 advert.
    assert "host1 stop at t=10.500s: host2 took over" in out
    params = sc.resolve("failover", sc.Options(vrrp3=True))
    sim = sc.run(params)
    assert sim.masters(1) == ["host2"]


def test_wrong_pass_has_no_meaning_for_vrrp3(capsys: pytest.CaptureFixture[str]) -> None:
    assert simulate_main(["wrong-pass", "--vrrp3"]) == 2
    assert "--vrrp3: wrong-pass is not allowed" in capsys.readouterr().err
