"""Mixed FreeBSD / OpenBSD / pycarp groups with demotion converge on one master (issue 10).

The ``mixed-demote`` scenario runs every kind of node (demotion in advskew and the byte ignored,
demotion in the byte, pycarp either way), half of them demoted, demotions changing at random
under 5 % loss; after the repair time (loss off, the last demotions kept) the group must have
exactly one master holding the addresses, and no node that reads the demote byte may send a
lower byte than the master (it would have taken over: OpenBSD's rule).
"""

from __future__ import annotations

import pytest

from pycarp.core.settings import DemoteOnWire
from pycarp.core.table import State
from pycarp.sim import Simulator, analysis, mixed
from pycarp.sim import scenarios as sc

SUB_SECOND_SKEWS = tuple(10 + 30 * i for i in range(8))  # every 39 ms to 0.9 s


def _run(seed: int, advbase: int) -> tuple[sc.Params, Simulator]:
    skews = SUB_SECOND_SKEWS if advbase == 0 else None  # 1/256 s adverts would only be slow
    params = sc.resolve("mixed-demote", sc.Options(seed=seed, advbase=advbase, advskews=skews))
    return params, sc.run(params)


@pytest.mark.parametrize("advbase", [0, 1])
@pytest.mark.parametrize("seed", range(1, 9))
def test_mixed_kinds_with_demotion_and_loss_converge_on_one_master(seed: int, advbase: int) -> None:
    params, sim = _run(seed, advbase)
    assert [mixed.kind_of(i) for i in range(4)] == list(mixed.KINDS)
    masters = sim.masters(1)
    assert len(masters) == 1, masters
    assert sim.holders(1) == masters
    (master,) = masters
    byte = mixed.byte_sent(sim, master)
    assert byte is not None
    lower = [
        name
        for name in params.names
        if mixed.reads_the_byte(sim, name) and (mixed.byte_sent(sim, name) or 0) < byte
    ]
    assert lower == [], f"{lower} send a lower demote byte than master {master} ({byte})"
    # converged well before the end: no state change in the last master-down interval
    quiet_from = params.duration - params.settle_time / 2
    assert [e for e in sim.timeline if e.time > quiet_from] == []


def test_the_scenario_really_mixes_demotions_and_masters() -> None:
    """Not a run where nothing happens: demotions change, several hosts are master in turn,
    bytes other than 0 are on the wire, and some of the last demotions stay."""
    params, sim = _run(22, 1)
    demotions = [f for f in sim.faults if f.fault.kind == "demotion"]
    assert len(demotions) >= 20
    winners = {e.router for e in sim.timeline if e.new is State.MASTER}
    assert len(winners) >= 3
    bytes_now = [mixed.byte_sent(sim, name) for name in params.names]
    assert any(b for b in bytes_now), bytes_now
    spans = analysis.master_spans(sim.timeline, 1, params.duration)
    assert spans[-1].masters == frozenset(sim.masters(1))


def test_without_reading_the_byte_a_demoted_openbsd_master_would_stay(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The check above can fail: were every node byte-blind (pycarp before issue 10), a master
    demoted in the byte keeps the group while healthy nodes that read the byte look on."""
    old_pycarp = (DemoteOnWire.ADVSKEW, False)
    modes = {**mixed._MODES, "pycarp-advskew": old_pycarp, "pycarp-byte": old_pycarp}
    monkeypatch.setattr(mixed, "_MODES", modes)
    failures = 0
    for seed in range(1, 9):
        params, sim = _run(seed, 1)
        (master,) = sim.masters(1)
        byte = mixed.byte_sent(sim, master) or 0
        healthy = [n for n in params.names if (mixed.byte_sent(sim, n) or 0) < byte]
        failures += bool(healthy)
    assert failures > 0
