"""The scenario library: each named scenario ends as its description says; options validate."""

from __future__ import annotations

import math

import pytest

from pycarp.core.stats import DropReason
from pycarp.core.timing import master_down_interval
from pycarp.sim import Simulator, analysis
from pycarp.sim import scenarios as sc
from pycarp.sim.chaos import random_faults
from pycarp.sim.seeds import stream


def _run(name: str, **overrides: object) -> tuple[sc.Params, Simulator]:
    params = sc.resolve(name, sc.Options(**overrides))  # type: ignore[arg-type]
    return params, sc.run(params)


@pytest.mark.parametrize(
    ("name", "overrides", "masters"),
    [
        ("failover", {}, {1: ["host2"]}),
        ("preempt", {}, {1: ["host2"]}),
        ("preempt", {"preempt": True}, {1: ["host1"]}),
        ("split-brain", {}, {1: ["host1"]}),
        ("bow-out", {}, {1: ["host2"]}),
        ("lossy", {"duration": 600.0}, {1: ["host1"]}),
        ("load-spread", {}, {1: ["host2"], 2: ["host3"]}),
        ("load-spread", {"hosts": 2}, {1: ["host2"], 2: ["host2"]}),
        ("failover", {"advskews": (200, 0, 100)}, {1: ["host3"]}),
        ("failover", {"hosts": 5}, {1: ["host2"]}),
    ],
)
def test_each_scenario_ends_with_the_master_it_describes(
    name: str, overrides: dict[str, object], masters: dict[int, list[str]]
) -> None:
    _, sim = _run(name, **overrides)
    assert {vhid: sim.masters(vhid) for vhid in sim.vhids} == masters
    assert {vhid: sim.holders(vhid) for vhid in sim.vhids} == masters


def test_wrong_pass_scenario_leaves_the_group_alone() -> None:
    params, sim = _run("wrong-pass")
    assert sim.masters(1) == ["host1", sc.INTRUDER]
    members = params.names
    assert [e for e in sim.timeline if e.router in members and e.time > 4.0] == []
    assert all(sim.stats(name).drops[DropReason.BAD_AUTH] > 0 for name in members)


@pytest.mark.parametrize("advbase", [1, 3])
def test_script_times_scale_with_advbase(advbase: int) -> None:
    params, sim = _run("failover", advbase=advbase)
    (failover,) = analysis.failovers(sim.faults, sim.timeline, sim.adverts, 1)
    assert failover.fault_time == 10 * advbase
    assert failover.gap is not None
    assert failover.gap <= master_down_interval(advbase, 100) + advbase
    assert params.duration == 30 * advbase


@pytest.mark.parametrize("seed", range(8))
def test_random_scenario_repairs_everything_and_ends_with_one_master(seed: int) -> None:
    params, sim = _run("random", seed=seed, hosts=4)
    kinds = {record.fault.kind for record in sim.faults}
    assert len(kinds) >= 3  # it really varies the faults
    assert len(sim.masters(1)) == 1
    assert sim.masters(1) == sim.holders(1)
    repaired_at = params.duration - params.settle_time
    assert all(record.time <= repaired_at for record in sim.faults)


def test_random_faults_are_a_function_of_the_seed() -> None:
    hosts = ["a", "b", "c"]
    plans = [
        random_faults(stream(seed, "faults"), hosts, start=5, repair_at=300, mean_gap=8)
        for seed in (4, 4, 5)
    ]
    assert plans[0] == plans[1]
    assert plans[0] != plans[2]


def test_default_advskews_spread_within_the_allowed_range() -> None:
    assert sc.default_advskews(3) == (0, 100, 200)
    assert sc.default_advskews(1) == (0,)
    many = sc.default_advskews(sc.MAX_HOSTS)
    assert len(set(many)) == sc.MAX_HOSTS
    assert max(many) <= 254


@pytest.mark.parametrize(
    ("name", "overrides", "option", "allowed"),
    [
        ("failover", {"hosts": 1}, "--hosts", "from 2 to 64 for scenario failover"),
        ("failover", {"hosts": 65}, "--hosts", "from 2 to 64"),
        ("failover", {"advskews": (0, 255)}, "--advskew", "from 0 to 254"),
        ("failover", {"hosts": 3, "advskews": (0, 1)}, "--advskew", "one value per host"),
        ("failover", {"advbase": -1}, "--advbase", "from 0 to 255"),
        ("failover", {"dead_ratio": 0}, "--dead-ratio", "from 1 to 255"),
        ("lossy", {"loss": 1.5}, "--loss", "a probability from 0 to 1"),
        ("lossy", {"loss": math.nan}, "--loss", "a probability from 0 to 1"),
        ("failover", {"delay": -1.0}, "--delay", "seconds from 0 to 10"),
        ("failover", {"jitter": math.inf}, "--jitter", "seconds from 0 to 10"),
        ("failover", {"duration": 5.0}, "--duration", "from 10 to 604800"),
        ("failover", {"seed": -1}, "--seed", "0 or more"),
        ("nope", {}, "scenario", "one of failover"),
    ],
)
def test_invalid_options_name_the_option_and_the_allowed_range(
    name: str, overrides: dict[str, object], option: str, allowed: str
) -> None:
    with pytest.raises(sc.OptionError) as caught:
        sc.resolve(name, sc.Options(**overrides))  # type: ignore[arg-type]
    assert caught.value.option == option
    assert allowed in str(caught.value)
    assert str(caught.value).startswith(f"{option}: ")
