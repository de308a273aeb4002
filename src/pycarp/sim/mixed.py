"""The ``mixed-demote`` scenario: FreeBSD, OpenBSD and pycarp nodes in one group, demoted at random.

The three kinds of CARP put a demotion in different places and read different things:

* FreeBSD (and ucarp): the demotion is added to advskew; the demote byte is always 0 and never
  read;
* OpenBSD: advskew stays as configured; the demote count travels in the demote byte (``pad1``)
  and is compared before timing;
* pycarp reads the byte always and sends its demotion either way (``demote_on_wire``).

Every node here runs the real pycarp core; a "FreeBSD" node is one configured to send its
demotion in advskew and to ignore the byte (``honour_demote_byte`` False), an "OpenBSD" node one
that sends it in the byte. What the scenario checks is where they differ: demotion. Hosts take
the four kinds in turn (host1 FreeBSD, host2 OpenBSD, host3 pycarp advskew, host4 pycarp byte,
host5 FreeBSD again, ...); the second half starts demoted; demotions change at random times
under random loss until the repair time, when loss stops and the last demotions stay. The group
must then have exactly one master, and no node that reads the byte may hold a lower byte than
the master's (it would have taken over).
"""

from __future__ import annotations

import dataclasses
import typing

from pycarp.core.settings import DemoteOnWire
from pycarp.sim import faults as fl
from pycarp.sim import group
from pycarp.sim.seeds import stream
from pycarp.sim.segment import Link

if typing.TYPE_CHECKING:
    from pycarp.sim.scenarios import Params
    from pycarp.sim.simulator import Simulator

KINDS = ("freebsd", "openbsd", "pycarp-advskew", "pycarp-byte")
_MODES = {  # kind -> (where it sends its demotion, whether it reads the byte)
    "freebsd": (DemoteOnWire.ADVSKEW, False),
    "openbsd": (DemoteOnWire.BYTE, True),
    "pycarp-advskew": (DemoteOnWire.ADVSKEW, True),
    "pycarp-byte": (DemoteOnWire.BYTE, True),
}
DEMOTIONS = (0, 1, 2, 30, 100, 240)  # small counts (OpenBSD's), FreeBSD-sized ones, the ceiling
BOOT_SPREAD = 0.1


def kind_of(index: int) -> str:
    """The kind of the host at ``index`` (0-based) in the scenario."""
    return KINDS[index % len(KINDS)]


def mixed_demote(sim: Simulator, params: Params) -> None:
    boot = stream(params.seed, "boot")
    for index, name in enumerate(params.names):
        demote_on_wire, honours = _MODES[kind_of(index)]
        settings = group(
            1,
            advbase=params.advbase,
            advskew=params.advskews[index],
            preempt=params.preempt,
            dead_ratio=params.dead_ratio,
        )
        settings = dataclasses.replace(
            settings, demote_on_wire=demote_on_wire, honour_demote_byte=honours
        )
        link = Link(loss_in=params.loss, delay=params.delay, jitter=params.jitter)
        sim.add_router(name, [settings], link=link, start_at=round(boot.uniform(0, BOOT_SPREAD), 6))
    rng = stream(params.seed, "demotions")
    for name in params.names[params.hosts // 2 :]:  # the second half starts demoted
        sim.schedule(0.0, fl.SetDemotion(router=name, demotion=rng.choice(DEMOTIONS[1:])))
    repair_at = params.duration - params.settle_time
    when = 5 * params.unit + rng.expovariate(1 / (4 * params.unit))
    while when < repair_at:
        change = fl.SetDemotion(router=rng.choice(params.names), demotion=rng.choice(DEMOTIONS))
        sim.schedule(round(when, 6), change)
        when += rng.expovariate(1 / (4 * params.unit))
    sim.schedule(repair_at, fl.SetLoss(probability=0.0))


def byte_sent(sim: Simulator, name: str, vhid: int = 1) -> int | None:
    """The demote byte ``name`` sends now (always 0 from FreeBSD and pycarp-advskew nodes);
    None while its daemon is not running."""
    machine = sim.routers[name].machines.get(vhid)
    return None if machine is None else machine.demote_on_wire


def reads_the_byte(sim: Simulator, name: str, vhid: int = 1) -> bool:
    return sim.routers[name].settings[vhid].honour_demote_byte
