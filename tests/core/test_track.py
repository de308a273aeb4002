"""Health tracks in the core: hysteresis, the demotion a track contributes, fault = hand-over.

Pure: results are fed with the time they were taken; the Host's callbacks are a recorder.
"""

from __future__ import annotations

from typing import Any

import pytest

from pycarp.core import wire
from pycarp.core.actions import ClaimAddresses, Hook, ReleaseAddresses, RunHook, StateChanged
from pycarp.core.host import GroupKey
from pycarp.core.table import State
from pycarp.core.timing import master_down_interval
from pycarp.core.track import Result, TrackError, TrackSpec, TrackState

from .test_host import ETH0_1, ETH0_2, ETH1_1, fire, make_master, new_host, settings

OK, FAILED, TIMED_OUT = Result.OK, Result.FAILED, Result.TIMED_OUT


def feed(state: TrackState, results: str, start: float = 0.0) -> list[bool]:
    """Feed ``results`` ('+' ok, '-' failed), one a second; the up/down after each."""
    seen = []
    for offset, mark in enumerate(results):
        state.record(OK if mark == "+" else FAILED, start + offset)
        seen.append(state.up)
    return seen


# -- hysteresis --------------------------------------------------------------------------------


def test_a_track_starts_up_contributing_nothing_and_its_first_result_decides_alone() -> None:
    state = TrackState(TrackSpec(name="web", weight=50, fall=3, rise=3))
    assert (state.up, state.demotion, state.last, state.consecutive) == (True, 0, None, 0)
    change = state.record(FAILED, 1.0)
    assert change is not None
    assert (change.up, change.demotion, change.went_down) == (False, 50, True)
    assert change.reason == "first check: failed"
    assert (state.since, state.consecutive, state.last) == (1.0, 1, FAILED)


def test_a_first_success_changes_nothing() -> None:
    state = TrackState(TrackSpec(name="web", weight=50))
    assert state.record(OK, 1.0) is None
    assert (state.up, state.since, state.consecutive) == (True, None, 1)


def test_fall_failures_in_a_row_take_it_down_and_rise_successes_bring_it_back() -> None:
    state = TrackState(TrackSpec(name="web", weight=50, fall=3, rise=2))
    assert feed(state, "+--+---") == [True, True, True, True, True, True, False]
    assert state.consecutive == 3
    assert feed(state, "+-++", start=10) == [False, False, False, True]
    assert state.demotion == 0


def test_a_timeout_counts_as_a_failure() -> None:
    state = TrackState(TrackSpec(name="web", weight=10, fall=2))
    state.record(OK, 0.0)
    state.record(TIMED_OUT, 1.0)
    change = state.record(Result.ERROR, 2.0)
    assert change is not None
    assert (change.up, change.reason) == (False, "2 failures in a row")


def test_consecutive_is_bounded() -> None:
    state = TrackState(TrackSpec(name="web", weight=10))
    for second in range(250):
        state.record(OK, float(second))
    assert state.consecutive == 100


def test_a_file_value_is_the_demotion_while_readable_clamped() -> None:
    state = TrackState(TrackSpec(name="file", weight=30, fall=1))
    change = state.record(OK, 0.0, value=70)
    assert change is not None
    assert (change.up, change.demotion, change.went_down) == (True, 70, False)
    assert change.reason == "the check reports demotion 70"
    assert state.record(OK, 1.0, value=70) is None
    state.record(OK, 2.0, value=900)
    assert state.demotion == 240
    state.record(OK, 3.0, value=-4)
    assert state.demotion == 0
    state.record(FAILED, 4.0)  # unreadable: the weight
    assert (state.up, state.demotion) == (False, 30)


@pytest.mark.parametrize(
    "spec",
    [
        {"weight": 0},
        {"weight": 241},
        {"fall": 0},
        {"rise": 101},
    ],
)
def test_a_bad_spec_is_refused(spec: dict[str, Any]) -> None:
    with pytest.raises(TrackError):
        TrackSpec(name="x", **spec)


# -- the host ----------------------------------------------------------------------------------


def test_a_down_weight_track_demotes_only_its_groups_as_source_tracks() -> None:
    host, _ = new_host(
        ("eth0", settings(1, advskew=10)), ("eth0", settings(2)), ("eth1", settings(1))
    )
    host.add_track(TrackSpec(name="web", weight=50, fall=1, groups=frozenset({ETH0_1, ETH1_1})))
    host.add_track(TrackSpec(name="db", weight=20, fall=1, groups=frozenset({ETH0_1})))
    host.track_result("web", FAILED, 1.0)
    host.track_result("db", FAILED, 1.0)
    assert host.sources(ETH0_1).tracks == 70
    assert host.machine(ETH0_1).advskew_on_wire == 80
    assert host.sources(ETH1_1).tracks == 50
    assert host.sources(ETH0_2).tracks == 0
    host.track_result("web", OK, 2.0)
    host.track_result("web", OK, 3.0)
    assert host.sources(ETH0_1).tracks == 20
    host.remove_track("db", 4.0)
    assert [host.machine(k).advskew_on_wire for k in (ETH0_1, ETH0_2, ETH1_1)] == [10, 0, 0]


def test_weights_add_up_but_the_wire_stays_at_240() -> None:
    host, recorder = new_host(("eth0", settings(1)))
    make_master(host, ETH0_1)
    for name in ("a", "b", "c"):
        host.add_track(TrackSpec(name=name, weight=200, fall=1))
        host.track_result(name, FAILED, 3.1)
    assert host.sources(ETH0_1).tracks == 600
    assert host.machine(ETH0_1).state is State.MASTER  # a weight demotes, it does not hand over
    fire(host, ETH0_1)
    assert wire.decode(recorder.sent(ETH0_1)[-1].payload).advskew == 240


def test_a_fault_track_going_down_hands_its_masters_over_like_maintenance() -> None:
    host, recorder = new_host(("eth0", settings(1)), ("eth0", settings(2)), ("eth1", settings(1)))
    for key in (ETH0_1, ETH0_2, ETH1_1):
        make_master(host, key)
    host.add_track(TrackSpec(name="web", fall=2, groups=frozenset({ETH0_1, ETH1_1})))
    recorder.clear()
    assert host.track_result("web", OK, 3.2) is None
    assert host.track_result("web", FAILED, 3.3) is None  # one failure of two
    change = host.track_result("web", FAILED, 3.4)
    assert change is not None
    assert (change.went_down, change.demotion) == (True, 240)
    for key in (ETH0_1, ETH1_1):
        actions = recorder.of(key)
        changes = [a for a in actions if isinstance(a, StateChanged)]
        assert [(c.old, c.new, c.reason) for c in changes] == [
            (State.MASTER, State.BACKUP, "track web is down: handing over")
        ]
        bow_outs = recorder.sent(key)
        assert [a.bow_out for a in bow_outs] == [True]
        assert ReleaseAddresses() in actions
        assert RunHook(hook=Hook.DOWN) in actions
        assert host.sources(key).tracks == 240
        # the last resort: its master-down timer runs with the ceiling it will advertise
        assert host.machine(key).next_deadline == 3.4 + master_down_interval(1, 240)
    assert recorder.of(ETH0_2) == []
    assert host.machine(ETH0_2).state is State.MASTER


def test_a_fault_track_still_down_hands_over_only_once() -> None:
    host, recorder = new_host(("eth0", settings(1)))
    make_master(host, ETH0_1)
    host.add_track(TrackSpec(name="web", fall=1))
    host.track_result("web", FAILED, 3.1)
    fire(host, ETH0_1)  # alone: back as the last resort
    assert host.machine(ETH0_1).state is State.MASTER
    recorder.clear()
    for second in range(5):
        assert host.track_result("web", FAILED, 10.0 + second) is None
    assert host.machine(ETH0_1).state is State.MASTER
    assert not any(isinstance(a, StateChanged) for _k, a in recorder.done)


def test_recovery_restores_the_configured_advskew_and_strands_nothing() -> None:
    host, _ = new_host(("eth0", settings(1, advskew=10)))
    host.add_track(TrackSpec(name="web", fall=1, rise=2))
    host.demote("+", 5, 0.5)
    host.track_result("web", FAILED, 1.0)
    host.set_maintenance(True, 1.5)
    host.set_maintenance(False, 1.6)
    assert host.machine(ETH0_1).advskew_on_wire == 240  # still the track
    host.track_result("web", OK, 2.0)
    assert host.sources(ETH0_1).tracks == 240  # one success of two
    host.track_result("web", OK, 3.0)
    assert host.sources(ETH0_1).tracks == 0
    host.demote("-", 5, 3.5)
    assert host.machine(ETH0_1).advskew_on_wire == 10
    assert host.machine(ETH0_1).demotion == 0


def test_a_recovered_fault_node_without_preempt_does_not_take_over_from_a_healthy_master() -> None:
    host, recorder = new_host(("eth0", settings(1)))
    make_master(host, ETH0_1)
    host.add_track(TrackSpec(name="web", fall=1, rise=1))
    host.track_result("web", FAILED, 3.1)
    host.track_result("web", OK, 3.2)
    assert host.machine(ETH0_1).state is State.BACKUP  # recovery demotes nothing, moves nothing
    assert not any(isinstance(a, ClaimAddresses) for _k, a in recorder.done[-3:])


def test_tracks_are_named_once_and_unknown_names_are_local_misuse() -> None:
    host, _ = new_host(("eth0", settings(1)))
    host.add_track(TrackSpec(name="web"))
    with pytest.raises(TrackError, match="exists already"):
        host.add_track(TrackSpec(name="web", weight=3))
    with pytest.raises(TrackError, match="no track db"):
        host.track_result("db", OK, 1.0)
    with pytest.raises(TrackError, match="no track db"):
        host.remove_track("db", 1.0)


def test_a_group_added_later_gets_the_demotion_of_a_track_for_every_group() -> None:
    host, _ = new_host(("eth0", settings(1)))
    host.add_track(TrackSpec(name="web", weight=40, fall=1))
    host.track_result("web", FAILED, 1.0)
    key: GroupKey = ("eth0", 7)
    host.add("eth0", settings(7), 2.0)
    assert host.machine(key).advskew_on_wire == 40
    assert host.machine(key).next_deadline == 2.0 + master_down_interval(1, 40)
