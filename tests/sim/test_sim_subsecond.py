"""Sub-second CARP (advbase 0) in the simulator: OpenBSD's timing, the script unit, failover."""

from __future__ import annotations

import itertools

import pytest

from pycarp.core.timing import advertisement_interval, master_down_interval
from pycarp.sim import analysis
from pycarp.sim import scenarios as sc


def test_the_script_unit_at_advbase_zero_is_the_slowest_interval() -> None:
    params = sc.resolve("failover", sc.Options(advbase=0, advskews=(25, 50)))
    assert params.unit == 50 / 256
    assert params.duration == 30 * params.unit
    floor = sc.resolve("failover", sc.Options(advbase=0, advskews=(0, 1)))
    assert floor.unit == pytest.approx(sc.BOOT_SPREAD)  # never shorter than the hosts take to boot


@pytest.mark.parametrize(("skews", "heir_skew"), [((25, 50), 50), ((10, 200, 100), 100)])
def test_sub_second_failover_takes_three_of_the_heirs_intervals(
    skews: tuple[int, ...], heir_skew: int
) -> None:
    params = sc.resolve("failover", sc.Options(advbase=0, advskews=skews))
    sim = sc.run(params)
    (failover,) = analysis.failovers(sim.faults, sim.timeline, sim.adverts, 1)
    assert failover.gap is not None
    heir_down = master_down_interval(0, heir_skew)  # 3 x advskew/256
    master_interval = advertisement_interval(0, min(skews))
    # silence from the last advert: the heir's master-down plus transit (up to 0.7 ms each way)
    assert heir_down <= failover.gap <= heir_down + 0.002
    assert failover.gap < 3 * advertisement_interval(0, max(skews)) + 0.002
    assert len(sim.masters(1)) == 1
    adverts = sim.advert_times(params.expected_master, 1)
    early = [b - a for a, b in itertools.pairwise(adverts)][:20]
    assert all(abs(gap - master_interval) < 1e-9 for gap in early)


def test_sub_second_bow_out_hands_over_after_the_heirs_own_interval() -> None:
    params = sc.resolve("bow-out", sc.Options(advbase=0, advskews=(25, 50)))
    sim = sc.run(params)
    assert sim.masters(1) == ["host2"]
    stop = next(f.time for f in sim.faults if f.fault.kind == "stop")
    takeover = next(e.time for e in sim.timeline if e.router == "host2" and e.new.value == "MASTER")
    assert takeover - stop == pytest.approx(50 / 256, abs=0.002)
