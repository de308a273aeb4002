"""Shared set-up for the simulator tests: a segment of hosts with one or more groups."""

from __future__ import annotations

from collections.abc import Sequence

from pycarp.core.table import State
from pycarp.core.timing import advertisement_interval, master_down_interval
from pycarp.sim import Link, Simulator, group
from pycarp.sim.records import TimelineEntry

DELAY = 0.0005  # per link: a packet takes 2 * DELAY (+ jitter) from sender to receiver


def segment(
    advskews: Sequence[int],
    *,
    seed: int = 1,
    advbase: int = 1,
    preempt: bool = False,
    loss: float = 0.0,
    jitter: float = 0.0,
    second_vhid_advskews: Sequence[int] | None = None,
    record_packets: bool = False,
) -> Simulator:
    """Hosts ``host1..N`` (addresses ascending), all booted at t=0, one group each (two with
    ``second_vhid_advskews``)."""
    sim = Simulator(seed=seed, record_packets=record_packets)
    for index, advskew in enumerate(advskews):
        groups = [group(1, advbase=advbase, advskew=advskew, preempt=preempt)]
        if second_vhid_advskews is not None:
            groups.append(
                group(2, advbase=advbase, advskew=second_vhid_advskews[index], preempt=preempt)
            )
        sim.add_router(
            f"host{index + 1}", groups, link=Link(loss_in=loss, delay=DELAY, jitter=jitter)
        )
    return sim


def md(advskew: int, advbase: int = 1) -> float:
    """Master-down interval with the kernels' dead ratio of 3."""
    return master_down_interval(advbase, advskew, 3)


def interval(advskew: int, advbase: int = 1) -> float:
    return advertisement_interval(advbase, advskew)


def changes(
    sim: Simulator, *, after: float = 0.0, router: str | None = None, vhid: int = 1
) -> list[TimelineEntry]:
    """State changes the machines made after ``after`` (crashes excluded)."""
    return [
        e
        for e in sim.timeline
        if e.by_machine
        and e.time > after
        and e.vhid == vhid
        and (router is None or e.router == router)
    ]


def became_master(sim: Simulator, router: str, *, after: float = 0.0, vhid: int = 1) -> float:
    """When ``router`` first became MASTER after ``after``."""
    return next(
        e.time for e in changes(sim, after=after, router=router, vhid=vhid) if e.new is State.MASTER
    )
