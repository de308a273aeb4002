"""The simulator itself: clock order, delay, loss, partitions, carrier, crashes, determinism."""

from __future__ import annotations

import itertools
import math

import pytest
from sim_helpers import DELAY, changes, md, segment

from pycarp.core.events import ForcedState
from pycarp.core.stats import DropReason
from pycarp.core.table import State
from pycarp.sim import SimulationError, Simulator, analysis, group
from pycarp.sim import faults as fl
from pycarp.sim import scenarios as sc
from pycarp.sim.clock import TimeWentBackwards, VirtualClock

# -- the clock ---------------------------------------------------------------------------------


def test_clock_runs_by_time_then_by_insertion_order() -> None:
    clock = VirtualClock()
    ran: list[str] = []
    clock.call_at(2.0, lambda: ran.append("b"))
    clock.call_at(1.0, lambda: ran.append("a"))
    clock.call_at(2.0, lambda: ran.append("c"))
    clock.call_at(1.0, lambda: clock.call_at(2.0, lambda: ran.append("d")))
    clock.run_until(1.5)
    assert ran == ["a"]
    assert clock.now == 1.5
    clock.run_until(2.0)
    assert ran == ["a", "b", "c", "d"]


def test_clock_refuses_the_past() -> None:
    clock = VirtualClock()
    clock.run_until(5.0)
    with pytest.raises(TimeWentBackwards):
        clock.call_at(4.0, lambda: None)
    with pytest.raises(TimeWentBackwards):
        clock.run_until(4.0)


# -- delay and timers --------------------------------------------------------------------------


def test_adverts_arrive_after_both_links_delays_and_the_master_keeps_its_interval() -> None:
    sim = segment([0, 100, 200], record_packets=True)
    sim.run_until(60.0)
    assert sim.masters(1) == ["host1"]
    times = sim.advert_times("host1", 1)
    assert len(times) == 58  # master from t=3 to t=60, one advert per second
    assert all(math.isclose(b - a, 1.0) for a, b in itertools.pairwise(times))
    assert sim.deliveries
    assert all(math.isclose(d.time - d.sent_at, 2 * DELAY) for d in sim.deliveries)
    assert {d.receiver for d in sim.deliveries} == {"host2", "host3"}
    # the backups' master-down timers were re-armed on every advert and never fired
    assert sim.advert_times("host2", 1) == sim.advert_times("host3", 1) == []


def test_jitter_stays_within_bounds_and_never_reorders_one_senders_packets() -> None:
    sim = segment([0, 100], jitter=0.3, record_packets=True)  # jitter > half an interval
    sim.run_until(300.0)
    lags = [d.time - d.sent_at for d in sim.deliveries]
    assert min(lags) >= 2 * DELAY
    assert max(lags) <= 2 * DELAY + 2 * 0.3 + 1e-9
    assert max(lags) > 2 * DELAY + 0.3  # the jitter is really drawn
    arrivals = [d.time for d in sim.deliveries if d.sender == "host1"]
    assert arrivals == sorted(arrivals)


# -- loss --------------------------------------------------------------------------------------


def test_inbound_loss_of_one_makes_that_host_deaf_only() -> None:
    sim = segment([0, 100, 200], record_packets=True)
    sim.apply(fl.SetLoss(router="host3", probability=1.0))
    sim.run_until(30.0)
    assert "host3" not in {d.receiver for d in sim.deliveries}
    assert sim.stats("host3").packets_delivered == 0
    assert sim.stats("host3").packets_lost == len(sim.advert_times("host1", 1))
    assert all(not loss.outbound and loss.receiver == "host3" for loss in sim.losses)
    # deaf, it takes over for itself; host1 ignores the slower advert, host2 restarts its timer
    assert sim.masters(1) == ["host1", "host3"]
    assert sim.state("host2", 1) is State.BACKUP
    assert changes(sim, router="host2", after=0.0) == []  # only its boot, at t=0


def test_outbound_loss_of_one_silences_the_sender_for_everyone() -> None:
    sim = segment([0, 100, 200], record_packets=True)
    sim.apply(fl.SetLoss(router="host1", probability=0.0))
    sim.segment.links["host1"].loss_out = 1.0
    sim.run_until(30.0)
    assert not [d for d in sim.deliveries if d.sender == "host1"]
    lost = [loss for loss in sim.losses if loss.sender == "host1"]
    assert lost
    assert all(loss.outbound and loss.receiver is None for loss in lost)
    assert sim.stats("host1").adverts_lost_outbound == len(sim.advert_times("host1", 1))
    assert sim.masters(1) == ["host1", "host2"]  # host2 never hears host1


def test_inbound_loss_rate_matches_the_probability() -> None:
    sim = segment([0, 100], record_packets=True)
    sim.apply(fl.SetLoss(router="host2", probability=0.3))
    sim.run_until(4000.0)
    sent = [d for d in sim.deliveries if d.sender == "host1"]
    lost = [loss for loss in sim.losses if loss.sender == "host1"]
    total = len(sent) + len(lost)
    expected, sigma = 0.3 * total, math.sqrt(total * 0.3 * 0.7)
    assert abs(len(lost) - expected) < 5 * sigma


# -- partitions, carrier, crash ------------------------------------------------------------------


def test_a_partition_stops_traffic_between_groups_until_healed() -> None:
    sim = segment([0, 100, 200, 150], record_packets=True)
    sim.run_until(10.0)
    sim.apply(fl.Partition(groups=(("host1", "host2"), ("host3",))))  # host4: alone
    sim.run_until(20.0)
    during = [d for d in sim.deliveries if 10.0 < d.sent_at < 20.0]
    assert {(d.sender, d.receiver) for d in during} <= {
        ("host1", "host2"),
        ("host2", "host1"),
    }
    assert sim.masters(1) == ["host1", "host3", "host4"]  # each cut-off side elects its own
    sim.apply(fl.Heal())
    sim.run_until(22.0)
    assert sim.masters(1) == ["host1"]
    after = {d.receiver for d in sim.deliveries if d.sent_at >= 20.0 and d.sender == "host1"}
    assert after == {"host2", "host3", "host4"}


def test_carrier_loss_sends_the_group_to_init_and_back() -> None:
    sim = segment([0, 100], record_packets=True)
    sim.run_until(10.0)
    sim.apply(fl.LinkDown(router="host1"))
    assert sim.state("host1", 1) is State.INIT
    assert sim.holders(1) == []
    sim.run_until(20.0)
    assert sim.masters(1) == ["host2"]
    assert not [d for d in sim.deliveries if d.receiver == "host1" and d.time > 10.0]
    sim.apply(fl.LinkUp(router="host1"))
    assert sim.state("host1", 1) is State.BACKUP
    sim.run_until(30.0)
    assert sim.masters(1) == ["host2"]  # no preempt


def test_a_crash_takes_addresses_away_without_a_bow_out_and_a_restart_is_fresh() -> None:
    sim = segment([0, 100])
    sim.run_until(10.0)
    old_machine = sim.machine("host1", 1)
    sim.apply(fl.Crash(router="host1"))
    assert sim.holders(1) == []
    assert sim.machine("host1", 1) is None
    assert not [a for a in sim.adverts if a.bow_out]
    crash = sim.timeline[-1]
    assert (crash.router, crash.old, crash.new, crash.by_machine) == (
        "host1",
        State.MASTER,
        State.INIT,
        False,
    )
    with pytest.raises(SimulationError, match="the host is down"):
        sim.apply(fl.Crash(router="host1"))
    sim.run_until(20.0)
    sim.apply(fl.Restart(router="host1"))
    assert sim.machine("host1", 1) is not old_machine
    assert changes(sim, router="host1")[-1].reason == "started"
    assert sim.masters(1) == ["host2"]


def test_a_packet_for_a_vhid_the_host_does_not_run_is_dropped_as_bad_vhid() -> None:
    sim = Simulator(seed=3)
    sim.add_router("a", [group(1)])
    sim.add_router("b", [group(2)])
    sim.run_until(10.5)  # the advert sent at t=10 has arrived
    assert sim.stats("b").drops[DropReason.BAD_VHID] == len(sim.advert_times("a", 1))
    assert sim.masters(1) == ["a"]
    assert sim.masters(2) == ["b"]


def test_send_errors_are_reported_to_the_machine_which_demotes_itself() -> None:
    sim = segment([0, 100])
    sim.run_until(10.0)
    sim.apply(fl.SendErrors(router="host1", failing=True))
    sim.run_until(20.0)
    assert sim.stats("host1").send_errors >= 3
    machine = sim.machine("host1", 1)
    assert machine is not None
    assert machine.demotion > 0  # three failures in a row demote, as FreeBSD does
    # host2 stopped hearing host1, took over, and host1 (now slower) stepped down
    assert sim.masters(1) == ["host2"]


def test_forcing_a_state_reaches_only_the_named_group() -> None:
    sim = segment([0, 100], second_vhid_advskews=[100, 0])
    sim.run_until(10.0)
    sim.apply(fl.Force(router="host2", state=ForcedState.MASTER, vhid=1))
    assert sim.state("host2", 1) is State.MASTER
    assert sim.masters(2) == ["host2"]
    sim.run_until(12.0)
    assert sim.masters(1) == ["host1"]  # host2 hears the faster host1 and steps down again


def test_the_log_and_the_live_view_agree_on_masters_and_holders() -> None:
    sim = sc.run(sc.resolve("random", sc.Options(seed=11)))
    for vhid in sim.vhids:
        assert sim.masters(vhid) == sim.masters(vhid, at=sim.now)
        assert sim.holders(vhid) == sim.holders(vhid, at=sim.now)


def test_misuse_is_reported_not_ignored() -> None:
    sim = segment([0, 100])
    with pytest.raises(SimulationError, match="unknown router"):
        sim.apply(fl.Crash(router="nobody"))
    with pytest.raises(SimulationError, match="unknown router"):
        sim.apply(fl.Partition(groups=(("host1", "nobody"),)))
    with pytest.raises(SimulationError, match="exists already"):
        sim.add_router("host1", [group(1)])
    with pytest.raises(ValueError, match="probability"):
        sim.apply(fl.SetLoss(probability=1.5))
    assert sim.faults == []  # a fault that could not be carried out is not in the record


# -- determinism -------------------------------------------------------------------------------


def _fingerprint(sim: Simulator) -> tuple[object, ...]:
    return (
        tuple(sim.timeline),
        tuple(sim.adverts),
        tuple(sim.drops),
        tuple(sim.deliveries),
        tuple(sim.losses),
        tuple(sim.address_changes),
    )


def test_the_same_seed_gives_the_same_run_record_for_record() -> None:
    options = sc.Options(seed=5, loss=0.25, jitter=0.05, duration=600.0)
    first = sc.run(sc.resolve("random", options), record_packets=True)
    second = sc.run(sc.resolve("random", options), record_packets=True)
    assert len(first.timeline) > 10
    assert _fingerprint(first) == _fingerprint(second)


def test_another_seed_gives_another_run() -> None:
    runs = [sc.run(sc.resolve("lossy", sc.Options(seed=seed, duration=600.0))) for seed in (1, 2)]
    assert runs[0].timeline != runs[1].timeline


# -- analysis of the records -------------------------------------------------------------------


def test_spans_outages_and_split_brain_episodes_are_measured_from_the_timeline() -> None:
    sim = segment([0, 100, 200])
    sim.schedule(10.0, fl.Partition(groups=(("host1",), ("host2", "host3"))))
    sim.schedule(20.0, fl.Heal())
    sim.schedule(30.0, fl.Crash(router="host1"))
    sim.run_until(40.0)
    spans = analysis.master_spans(sim.timeline, 1, sim.now)
    assert [sorted(s.masters) for s in spans] == [
        [],
        ["host1"],
        ["host1", "host2"],
        ["host1"],
        [],
        ["host2"],
    ]
    assert spans[0].start == 0.0
    assert spans[-1].end == 40.0
    (split,) = analysis.split_brain_episodes(spans)
    host2_up = 10.0 + md(100) - 1.0 + 2 * DELAY  # last advert heard at t=9, plus transit
    assert split.start == pytest.approx(host2_up)
    assert split.end == pytest.approx(20.0 + 2 * DELAY)  # host1's first advert after the heal
    (outage,) = analysis.outages(spans)  # the boot (no master yet) is not an outage
    assert outage.start == 30.0
    # host2 yields with a last advert, host1 answers it at once (reassert), which moves host1's
    # advert rhythm by one round trip (4 * DELAY): its last advert before the crash is then at
    # 29 + 4 * DELAY, and host2 hears it one transit (2 * DELAY) later.
    assert outage.end == pytest.approx(29.0 + 4 * DELAY + md(100) + 2 * DELAY)
