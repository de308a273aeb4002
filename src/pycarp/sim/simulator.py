"""N routers, each running the real :class:`~pycarp.core.host.Host`, on a virtual segment.

The simulator is a runtime like the asyncio one, only with a virtual clock (the runtime half is
:mod:`pycarp.sim.runtime`): what a runtime would do to the operating system, the simulator
writes down instead (see :mod:`pycarp.sim.records`), so tests can ask who was master when, who
held the addresses, and how long a failover took. This half is the scenario's side: building
the segment, injecting :mod:`~pycarp.sim.faults` (each one a call on the router's Host, as the
daemon's signal handlers and control socket make them) and asking questions.

* A crash removes the host's machines and addresses at once and sends nothing; the timeline gets
  an entry with ``by_machine=False`` for every group that was not already in INIT.
* Faults aimed at the daemon (operator demotion, maintenance, hand-over) need it running, as
  the control socket does; carrier, loss and host-wide demotion (a sysctl) do not.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Sequence

from pycarp.core.constants import IPAddress
from pycarp.core.host import Host
from pycarp.core.machine import GroupMachine
from pycarp.core.settings import GroupSettings
from pycarp.core.table import State
from pycarp.sim import analysis
from pycarp.sim import faults as fl
from pycarp.sim.records import FaultRecord, RouterStats
from pycarp.sim.router import SIM_INTERFACE, SimRouter, SimTrack, key_of
from pycarp.sim.runtime import SimRuntime, SimulationError
from pycarp.sim.segment import Link

ROUTER_NETWORK = ipaddress.IPv4Network("198.51.100.0/24")  # routers' own addresses
FIRST_HOST_OFFSET = 11  # host 1 is 198.51.100.11, host 2 .12, ...


class Simulator(SimRuntime):
    """A segment of routers on a virtual clock. Build it, schedule faults, ``run_until``."""

    # -- building -----------------------------------------------------------------------------

    def add_router(
        self,
        name: str,
        groups: Sequence[GroupSettings],
        *,
        address: IPAddress | None = None,
        link: Link | None = None,
        start_at: float | None = 0.0,
        tracks: Sequence[SimTrack] = (),
    ) -> SimRouter:
        """Attach a host. Its groups' ``source`` becomes its address (auto: 198.51.100.11+).

        ``start_at`` schedules its daemon's start; None leaves it stopped until a
        :class:`~pycarp.sim.faults.Start`. ``tracks`` are its health tracks, each checked
        every ``interval`` (a :class:`~pycarp.sim.faults.Service` fault kills its service).
        """
        if name in self.routers:
            raise SimulationError(f"router {name!r} exists already")
        if address is None:
            address = ROUTER_NETWORK[FIRST_HOST_OFFSET + len(self.routers)]
        if any(r.address == address for r in self.routers.values()):
            raise SimulationError(f"address {address} is used by another router")
        router = SimRouter(name, address, list(groups), list(tracks))
        self.segment.attach(name, link if link is not None else Link())
        self.routers[name] = router
        if start_at is not None:  # the first boot is set-up, not a fault: not in self.faults
            self.clock.call_at(start_at, functools.partial(self._boot, router))
        return router

    # -- time ---------------------------------------------------------------------------------

    def run_until(self, end: float) -> None:
        """Advance virtual time to ``end``, running everything due on the way."""
        self.clock.run_until(end)

    def run_for(self, duration: float) -> None:
        self.clock.run_until(self.clock.now + duration)

    def schedule(self, when: float, fault: fl.Fault) -> None:
        """Inject ``fault`` at virtual time ``when``."""
        self.clock.call_at(when, functools.partial(self.apply, fault))

    def call_at(self, when: float, callback: Callable[[], None]) -> None:
        """Run any callback at ``when`` (a test's probe, a custom fault)."""
        self.clock.call_at(when, callback)

    # -- faults -------------------------------------------------------------------------------

    def apply(self, fault: fl.Fault) -> None:
        """Carry out one fault or repair now, and record it."""
        host = fault.host
        if host is not None and host not in self.routers:
            raise SimulationError(f"{fault.kind}: unknown router {host!r}")
        was_master = self._mastered_by(host) if host is not None else ()
        self._carry_out(fault)
        self.faults.append(FaultRecord(time=self.now, fault=fault, was_master=was_master))

    def _carry_out(self, fault: fl.Fault) -> None:
        match fault:
            case fl.Crash(router=name):
                self._crash(self._require(name, alive=True, why="crash"))
            case fl.Restart(router=name):
                router = self._require(name, alive=False, why="restart")
                router.alive = True
                self._boot(router)
            case fl.Stop(router=name):
                self._stop(self._require(name, running=True, why="stop"))
            case fl.Start(router=name):
                self._boot(self._require(name, alive=True, running=False, why="start"))
            case fl.LinkDown(router=name) | fl.LinkUp(router=name):
                up = isinstance(fault, fl.LinkUp)
                self.segment.links[name].carrier = up
                host = self.routers[name].host
                if host is not None:
                    host.link_changed(SIM_INTERFACE, up, self.now)
            case fl.Partition(groups=groups):
                try:
                    self.segment.partition(groups)
                except ValueError as error:
                    raise SimulationError(str(error)) from None
            case fl.Heal():
                self.segment.heal()
            case fl.SetLoss(router=name, probability=probability):
                targets = [name] if name is not None else list(self.segment.links)
                for target in targets:
                    self.segment.links[target].loss_in = probability
                    self.segment.links[target].validate()
            case fl.SendErrors(router=name, failing=failing):
                self.routers[name].send_failing = failing
            case fl.SetDemotion(router=name, demotion=demotion):
                router = self.routers[name]
                router.demotion = demotion
                if router.host is not None:
                    router.demotion = router.host.demote("=", demotion, self.now)
            case _:
                self._operate(fault)

    def _operate(self, fault: fl.Fault) -> None:
        """The operator's faults, which act through the running daemon's Host."""
        match fault:
            case fl.Force(router=name, state=state, vhid=vhid):
                host = self.routers[name].host
                if host is None:
                    return  # a stopped daemon: nothing to force
                for key in list(host.groups):
                    if vhid is None or key[1] == vhid:
                        host.force(key, state, self.now)
            case fl.Demote(router=name, mode=mode, amount=amount, vhid=vhid):
                router = self._require(name, running=True, why="demote")
                host = router.running_host()
                group = None if vhid is None else key_of(vhid)
                if group is not None and group not in host.groups:
                    raise SimulationError(f"demote {name}: no group {vhid} there")
                value = host.demote(mode, amount, self.now, group)
                if group is None:
                    router.demotion = value
            case fl.Maintenance(router=name, on=on):
                router = self._require(name, running=True, why="maintenance")
                router.maintenance = on
                router.running_host().set_maintenance(on, self.now, "maintenance mode")
            case fl.HandOver(router=name):
                router = self._require(name, running=True, why="hand over")
                router.running_host().hand_over(self.now, "SIGUSR2: handing over")
            case fl.Service(router=name, track=track, healthy=healthy):
                router = self.routers[name]
                if track not in router.healthy:
                    raise SimulationError(f"service {name}: no track {track!r} there")
                router.healthy[track] = healthy
            case _:
                raise SimulationError(f"unknown fault {fault!r}")

    def _require(
        self, name: str, *, why: str, alive: bool | None = None, running: bool | None = None
    ) -> SimRouter:
        router = self.routers[name]
        if alive is not None and router.alive is not alive:
            raise SimulationError(f"{why} {name}: the host is {'up' if router.alive else 'down'}")
        if running is not None and router.running is not running:
            state = "running" if router.running else "not running"
            raise SimulationError(f"{why} {name}: its daemon is {state}")
        return router

    def _mastered_by(self, name: str) -> tuple[int, ...]:
        router = self.routers[name]
        return tuple(v for v, m in router.machines.items() if m.state is State.MASTER)

    # -- queries --------------------------------------------------------------------------------

    def _in_router_order(self, names: set[str] | frozenset[str]) -> list[str]:
        return [name for name in self.routers if name in names]

    def masters(self, vhid: int, at: float | None = None) -> list[str]:
        """Routers whose group ``vhid`` is MASTER now, or at virtual time ``at`` (from the log)."""
        if at is None:
            return [
                name
                for name, router in self.routers.items()
                if vhid in router.machines and router.machines[vhid].state is State.MASTER
            ]
        return self._in_router_order(analysis.masters_at(self.timeline, vhid, at))

    def holders(self, vhid: int, at: float | None = None) -> list[str]:
        """Routers that have the group's addresses installed, now or at ``at``."""
        if at is None:
            return [name for name, router in self.routers.items() if vhid in router.holding]
        return self._in_router_order(analysis.holders_at(self.address_changes, vhid, at))

    def state(self, router: str, vhid: int) -> State:
        """The group's state on a router right now (INIT when its daemon is not running)."""
        machine = self.routers[router].machines.get(vhid)
        return machine.state if machine is not None else State.INIT

    def stats(self, router: str) -> RouterStats:
        return self.routers[router].stats

    def advert_times(self, router: str, vhid: int, *, bow_outs: bool = False) -> list[float]:
        """When ``router`` sent adverts for ``vhid`` (bow-outs only if asked)."""
        return [
            a.time
            for a in self.adverts
            if a.router == router and a.vhid == vhid and (bow_outs or not a.bow_out)
        ]

    def machine(self, router: str, vhid: int) -> GroupMachine | None:
        """The live machine (None while the daemon is not running): for white-box checks."""
        return self.routers[router].machines.get(vhid)

    def host(self, router: str) -> Host | None:
        """The router's running Host (None while its daemon is not running): its demotion
        sources, its per-interface drops."""
        return self.routers[router].host

    @property
    def vhids(self) -> list[int]:
        """Every vhid configured on any router, ascending."""
        return sorted({vhid for router in self.routers.values() for vhid in router.settings})
