"""N routers running the real :class:`~pycarp.core.machine.GroupMachine` on a virtual segment.

The simulator is a runtime like the asyncio one, only with a virtual clock: it feeds events to
the machines, carries out the actions they return and re-arms one timer per machine to its
``next_deadline`` after every ``handle()``. What a runtime would do to the operating system, the
simulator writes down instead (see :mod:`pycarp.sim.records`), so tests can ask who was master
when, who held the addresses, and how long a failover took.

Semantics worth knowing:

* An advertisement is decided at send time: sender's carrier, partitions, outbound and inbound
  loss, transit time. At arrival the receiver must still be running with carrier; the packet is
  handed to the receiver's group with the vhid written in the packet (as the kernel demuxes),
  with TTL 255 and the sender's own address as source. A sender does not hear itself.
* After each send the machine is told the result (``SendCompleted``): a send fails when the
  sender's carrier is down or a :class:`~pycarp.sim.faults.SendErrors` fault says so.
* A crash removes the host's machines and addresses at once and sends nothing; the timeline gets
  an entry with ``by_machine=False`` for every group that was not already in INIT.
* Every random draw (loss, jitter, counters) comes from ``random.Random`` seeded from ``seed``:
  the same seed and the same calls give the same run, record for record.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
from collections.abc import Callable, Sequence

from pycarp.core import events as ev
from pycarp.core.actions import (
    Action,
    Announce,
    ClaimAddresses,
    PacketDropped,
    ReleaseAddresses,
    RunHook,
    SendAdvertisement,
    State,
    StateChanged,
)
from pycarp.core.auth import IPAddress
from pycarp.core.machine import GroupMachine
from pycarp.core.receive import WIRE_TTL
from pycarp.core.settings import GroupSettings
from pycarp.core.stats import DropReason
from pycarp.sim import analysis
from pycarp.sim import faults as fl
from pycarp.sim.clock import VirtualClock
from pycarp.sim.records import (
    AddressChange,
    AdvertSent,
    Delivery,
    Drop,
    FaultRecord,
    Loss,
    Notice,
    RouterStats,
    TimelineEntry,
)
from pycarp.sim.router import SimRouter
from pycarp.sim.seeds import stream
from pycarp.sim.segment import Link, Segment

ROUTER_NETWORK = ipaddress.IPv4Network("198.51.100.0/24")  # routers' own addresses
FIRST_HOST_OFFSET = 11  # host 1 is 198.51.100.11, host 2 .12, ...


class SimulationError(RuntimeError):
    """The scenario asked for something impossible (crash a dead host) or a machine misbehaved."""


class Simulator:
    """A segment of routers on a virtual clock. Build it, schedule faults, ``run_until``."""

    def __init__(self, *, seed: int = 0, record_packets: bool = False) -> None:
        self.seed = seed
        self.record_packets = record_packets
        self.clock = VirtualClock()
        self.segment = Segment(stream(seed, "segment"))
        self.routers: dict[str, SimRouter] = {}
        self._demotion: dict[str, int] = {}
        self._tokens = itertools.count()
        # the records (append-only, in time order)
        self.timeline: list[TimelineEntry] = []
        self.adverts: list[AdvertSent] = []
        self.drops: list[Drop] = []
        self.address_changes: list[AddressChange] = []
        self.notices: list[Notice] = []
        self.faults: list[FaultRecord] = []
        self.deliveries: list[Delivery] = []  # only with record_packets
        self.losses: list[Loss] = []  # only with record_packets

    # -- building -----------------------------------------------------------------------------

    def add_router(
        self,
        name: str,
        groups: Sequence[GroupSettings],
        *,
        address: IPAddress | None = None,
        link: Link | None = None,
        start_at: float | None = 0.0,
    ) -> SimRouter:
        """Attach a host. Its groups' ``source`` becomes its address (auto: 198.51.100.11+).

        ``start_at`` schedules its daemon's start; None leaves it stopped until a
        :class:`~pycarp.sim.faults.Start`.
        """
        if name in self.routers:
            raise SimulationError(f"router {name!r} exists already")
        if address is None:
            address = ROUTER_NETWORK[FIRST_HOST_OFFSET + len(self.routers)]
        if any(r.address == address for r in self.routers.values()):
            raise SimulationError(f"address {address} is used by another router")
        router = SimRouter(name, address, list(groups))
        self.segment.attach(name, link if link is not None else Link())
        self.routers[name] = router
        if start_at is not None:  # the first boot is set-up, not a fault: not in self.faults
            self.clock.call_at(start_at, functools.partial(self._boot, router))
        return router

    # -- time ---------------------------------------------------------------------------------

    @property
    def now(self) -> float:
        return self.clock.now

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
                self._feed_all(self.routers[name], ev.LinkChanged(up=up))
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
            case fl.Force(router=name, state=state, vhid=vhid):
                self._feed_all(self.routers[name], ev.AdminForced(state=state), vhid=vhid)
            case fl.SetDemotion(router=name, demotion=demotion):
                self._demotion[name] = demotion
                self._feed_all(self.routers[name], ev.DemotionChanged(demotion=demotion))
            case fl.SendErrors(router=name, failing=failing):
                self.routers[name].send_failing = failing
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

    def _boot(self, router: SimRouter) -> None:
        router.boot_machines(self.seed)
        demotion = self._demotion.get(router.name, 0)
        link_up = self.segment.links[router.name].carrier
        for vhid in list(router.machines):
            if demotion:
                self._feed(router, vhid, ev.DemotionChanged(demotion=demotion))
            self._feed(router, vhid, ev.Started(link_up=link_up))

    def _stop(self, router: SimRouter) -> None:
        for vhid in list(router.machines):
            self._feed(router, vhid, ev.ShutdownRequested())
        router.halt_machines()

    def _crash(self, router: SimRouter) -> None:
        now = self.now
        for vhid, machine in router.machines.items():
            if machine.state is not State.INIT:
                self._record_state(
                    router, vhid, machine.state, State.INIT, "host crashed", by_machine=False
                )
        for vhid in sorted(router.holding):
            self.address_changes.append(
                AddressChange(time=now, router=router.name, vhid=vhid, held=False)
            )
        router.holding.clear()
        router.halt_machines()
        router.alive = False

    # -- the runtime loop: feed, execute, re-arm -----------------------------------------------

    def _feed_all(self, router: SimRouter, event: ev.Event, vhid: int | None = None) -> None:
        if not router.running:
            return
        for each in list(router.machines):
            if vhid is None or each == vhid:
                self._feed(router, each, event)

    def _feed(self, router: SimRouter, vhid: int, event: ev.Event) -> None:
        machine = router.machines[vhid]
        pending: list[Action] = machine.handle(event, self.now)
        while pending:
            results = self._execute(router, vhid, pending)
            pending = []
            for ok in results:
                pending += machine.handle(ev.SendCompleted(ok=ok), self.now)
        self._rearm(router, vhid, machine)

    def _execute(self, router: SimRouter, vhid: int, actions: list[Action]) -> list[bool]:
        """Carry out the actions in order; returns the result of each send, for SendCompleted."""
        now, name = self.now, router.name
        sends: list[bool] = []
        for action in actions:
            match action:
                case StateChanged(old=old, new=new, reason=reason):
                    self._record_state(router, vhid, old, new, reason, by_machine=True)
                case SendAdvertisement():
                    sends.append(self._transmit(router, vhid, action))
                case ClaimAddresses() | ReleaseAddresses():
                    held = isinstance(action, ClaimAddresses)
                    if (vhid in router.holding) is not held:
                        (router.holding.add if held else router.holding.discard)(vhid)
                        self.address_changes.append(
                            AddressChange(time=now, router=name, vhid=vhid, held=held)
                        )
                case PacketDropped(reason=reason, detail=detail):
                    self._record_drop(router, vhid, reason, detail)
                case Announce(repeat=repeat):
                    router.stats.announcements += 1
                    self.notices.append(
                        Notice(time=now, router=name, vhid=vhid, announce_repeat=repeat)
                    )
                case RunHook(hook=hook):
                    router.stats.hooks_run += 1
                    self.notices.append(Notice(time=now, router=name, vhid=vhid, hook=hook))
                case _:
                    raise SimulationError(f"{name} vhid {vhid}: unknown action {action!r}")
        return sends

    def _record_state(
        self, router: SimRouter, vhid: int, old: State, new: State, reason: str, *, by_machine: bool
    ) -> None:
        router.stats.state_changes += 1
        self.timeline.append(
            TimelineEntry(
                time=self.now,
                router=router.name,
                vhid=vhid,
                old=old,
                new=new,
                reason=reason,
                by_machine=by_machine,
            )
        )

    def _record_drop(self, router: SimRouter, vhid: int, reason: DropReason, detail: str) -> None:
        router.stats.drops[reason] += 1
        self.drops.append(
            Drop(time=self.now, router=router.name, vhid=vhid, reason=reason, detail=detail)
        )

    def _rearm(self, router: SimRouter, vhid: int, machine: GroupMachine) -> None:
        """One timer per machine: queue a new one only when the deadline moved."""
        deadline = machine.next_deadline
        if deadline is None:
            router.timers.pop(vhid, None)
            return
        armed = router.timers.get(vhid)
        if armed is not None and armed[0] == deadline:
            return
        token = next(self._tokens)
        router.timers[vhid] = (deadline, token)
        self.clock.call_at(
            max(deadline, self.now), functools.partial(self._expire, router, vhid, token)
        )

    def _expire(self, router: SimRouter, vhid: int, token: int) -> None:
        armed = router.timers.get(vhid)
        if armed is None or armed[1] != token:
            return  # stale: the machine moved its deadline, or the daemon was restarted
        del router.timers[vhid]
        machine = router.machines[vhid]
        self._feed(router, vhid, ev.TimerExpired())
        if machine.next_deadline is not None and machine.next_deadline <= self.now:
            raise SimulationError(
                f"{router.name} vhid {vhid}: TimerExpired at t={self.now} left the deadline at "
                f"{machine.next_deadline} (the machine would spin)"
            )

    # -- the segment ----------------------------------------------------------------------------

    def _transmit(self, router: SimRouter, vhid: int, send: SendAdvertisement) -> bool:
        now, name = self.now, router.name
        stats = router.stats
        self.adverts.append(
            AdvertSent(
                time=now,
                router=name,
                vhid=vhid,
                advbase=send.advbase,
                advskew=send.advskew,
                bow_out=send.bow_out,
            )
        )
        stats.adverts_sent += 1
        stats.bow_outs_sent += send.bow_out
        segment = self.segment
        if not segment.links[name].carrier or router.send_failing:
            stats.send_errors += 1
            return False
        if segment.lost_outbound(name):
            stats.adverts_lost_outbound += 1
            if self.record_packets:
                self.losses.append(
                    Loss(time=now, sender=name, receiver=None, vhid=vhid, outbound=True)
                )
            return True
        for other in segment.reachable_from(name):
            receiver = self.routers[other]
            if not receiver.alive:
                continue
            if segment.lost_inbound(other):
                receiver.stats.packets_lost += 1
                if self.record_packets:
                    self.losses.append(
                        Loss(time=now, sender=name, receiver=other, vhid=vhid, outbound=False)
                    )
                continue
            arrival = segment.arrival_time(name, other, now)
            self.clock.call_at(
                arrival, functools.partial(self._arrive, router, receiver, send.payload, now)
            )
        return True

    def _arrive(
        self, sender: SimRouter, receiver: SimRouter, payload: bytes, sent_at: float
    ) -> None:
        if not receiver.running or not self.segment.links[receiver.name].carrier:
            return
        vhid = payload[1] if len(payload) > 1 else 0  # demux on the vhid byte, as the kernel does
        if vhid not in receiver.machines:
            self._record_drop(receiver, vhid, DropReason.BAD_VHID, f"no group {vhid} here")
            return
        receiver.stats.packets_delivered += 1
        if self.record_packets:
            self.deliveries.append(
                Delivery(
                    sent_at=sent_at,
                    time=self.now,
                    sender=sender.name,
                    receiver=receiver.name,
                    vhid=vhid,
                )
            )
        self._feed(
            receiver, vhid, ev.PacketReceived(payload=payload, source=sender.address, ttl=WIRE_TTL)
        )

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

    @property
    def vhids(self) -> list[int]:
        """Every vhid configured on any router, ascending."""
        return sorted({vhid for router in self.routers.values() for vhid in router.settings})
