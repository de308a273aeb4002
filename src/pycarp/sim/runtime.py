"""The simulator's runtime half: what the asyncio daemon does for a real host, on a virtual clock.

Each running router owns one :class:`~pycarp.core.host.Host` (one interface, ``sim0``), the
same class the daemon drives, so the feed loop, the demux and every demotion rule under test
are the production ones. This module supplies the Host's two callbacks and the segment:

* ``execute`` writes down what a daemon would do to the operating system (state changes,
  addresses, hooks, announcements, drops) and puts adverts on the segment, answering each send
  with its result (``SendCompleted``);
* ``rearm`` keeps one timer per group on the virtual clock;
* a packet that arrives is handed to ``Host.receive``, which finds its group by vhid.

Semantics worth knowing:

* An advertisement is decided at send time: sender's carrier, partitions, outbound and inbound
  loss, transit time. At arrival the receiver must still be running with carrier; it gets the
  packet with TTL 255 and the sender's own address as source. A sender does not hear itself.
* A send fails when the sender's carrier is down or a
  :class:`~pycarp.sim.faults.SendErrors` fault says so.
* Every random draw (loss, jitter, counters) comes from ``random.Random`` seeded from ``seed``:
  the same seed and the same calls give the same run, record for record.
"""

from __future__ import annotations

import functools
import itertools

from pycarp.core import events as ev
from pycarp.core.actions import (
    Action,
    AddressListMismatch,
    Announce,
    ClaimAddresses,
    PacketDropped,
    ReleaseAddresses,
    RunHook,
    SendAdvertisement,
    StateChanged,
)
from pycarp.core.constants import CARP_TTL
from pycarp.core.host import GroupKey, Host
from pycarp.core.stats import DropReason
from pycarp.core.table import State
from pycarp.core.track import Result
from pycarp.sim.clock import VirtualClock
from pycarp.sim.records import (
    AddressChange,
    AdvertSent,
    Delivery,
    Drop,
    FaultRecord,
    Loss,
    Notice,
    TimelineEntry,
)
from pycarp.sim.router import SIM_INTERFACE, SimRouter, SimTrack, key_of
from pycarp.sim.seeds import stream
from pycarp.sim.segment import Segment


class SimulationError(RuntimeError):
    """The scenario asked for something impossible (crash a dead host) or a machine misbehaved."""


class SimRuntime:
    """Routers on a segment, each running a Host on the virtual clock; the records they leave."""

    def __init__(self, *, seed: int = 0, record_packets: bool = False) -> None:
        self.seed = seed
        self.record_packets = record_packets
        self.clock = VirtualClock()
        self.segment = Segment(stream(seed, "segment"))
        self.routers: dict[str, SimRouter] = {}
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

    @property
    def now(self) -> float:
        return self.clock.now

    # -- the daemon's life ----------------------------------------------------------------------

    def _boot(self, router: SimRouter) -> None:
        """A new daemon process: a fresh Host, what it kept outside the process, its groups.

        Every group gets its own seeded random stream, so one group's counters do not depend
        on its neighbours'; the incarnation makes a restart draw new ones.
        """
        router.incarnation += 1
        router.timers.clear()
        name, incarnation, now = router.name, router.incarnation, self.now
        host = Host(
            stream(self.seed, name, incarnation),
            functools.partial(self._execute, router),
            functools.partial(self._rearm, router),
        )
        router.host = host
        if router.demotion:
            host.demote("=", router.demotion, now)
        if router.maintenance:
            host.set_maintenance(True, now, "maintenance mode (saved)")
        for track in router.tracks:  # registered first, checked at once (as the daemon does)
            host.add_track(track.spec)
            self.clock.call_at(now, functools.partial(self._check, router, track, incarnation))
        link_up = self.segment.links[name].carrier
        for vhid, settings in router.settings.items():
            rng = stream(self.seed, name, vhid, incarnation)
            host.add(SIM_INTERFACE, settings, now, link_up=link_up, rng=rng)

    def _check(self, router: SimRouter, track: SimTrack, incarnation: int) -> None:
        """One run of a track's check, then the next one an interval later (until the daemon
        that scheduled it is gone)."""
        if router.host is None or router.incarnation != incarnation:
            return
        name = track.spec.name
        result = Result.OK if router.healthy[name] else Result.FAILED
        router.host.track_result(name, result, self.now)
        self.clock.call_at(
            self.now + track.interval, functools.partial(self._check, router, track, incarnation)
        )

    def _stop(self, router: SimRouter) -> None:
        """A graceful stop: every group leaves as the Host removes it (a master bows out)."""
        host = router.running_host()
        for key in list(host.groups):
            host.remove(key, self.now)
        router.halt()

    def _crash(self, router: SimRouter) -> None:
        """Machines and addresses vanish at once, nothing is sent; the records say so."""
        for vhid, machine in router.machines.items():
            if machine.state is not State.INIT:
                self._record_state(
                    router, vhid, machine.state, State.INIT, "host crashed", by_machine=False
                )
        for vhid in sorted(router.holding):
            self.address_changes.append(
                AddressChange(time=self.now, router=router.name, vhid=vhid, held=False)
            )
        router.holding.clear()
        router.halt()
        router.alive = False

    # -- the Host's callbacks ------------------------------------------------------------------

    def _execute(self, router: SimRouter, key: GroupKey, action: Action) -> ev.Event | None:
        """Carry out one action; a send answers with its result, for the machine to count."""
        now, name, vhid = self.now, router.name, key[1]
        match action:
            case StateChanged(old=old, new=new, reason=reason):
                self._record_state(router, vhid, old, new, reason, by_machine=True)
            case SendAdvertisement():
                return ev.SendCompleted(ok=self._transmit(router, vhid, action))
            case ClaimAddresses() | ReleaseAddresses():
                held = isinstance(action, ClaimAddresses)
                if (vhid in router.holding) is not held:
                    (router.holding.add if held else router.holding.discard)(vhid)
                    self.address_changes.append(
                        AddressChange(time=now, router=name, vhid=vhid, held=held)
                    )
            case PacketDropped(reason=reason, detail=detail):
                self._record_drop(router, vhid, reason, detail)
            case AddressListMismatch():
                router.stats.address_mismatches += 1
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
        return None

    def _rearm(self, router: SimRouter, key: GroupKey, deadline: float | None) -> None:
        """One timer per group: the Host calls this only when the deadline moved."""
        vhid = key[1]
        if deadline is None:
            router.timers.pop(vhid, None)
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
        host = router.running_host()
        host.timer(key_of(vhid), self.now)
        group = host.groups.get(key_of(vhid))
        deadline = group.machine.next_deadline if group is not None else None
        if deadline is not None and deadline <= self.now:
            raise SimulationError(
                f"{router.name} vhid {vhid}: TimerExpired at t={self.now} left the deadline at "
                f"{deadline} (the machine would spin)"
            )

    # -- records ----------------------------------------------------------------------------------

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
        host = receiver.host
        if host is None or not self.segment.links[receiver.name].carrier:
            return
        vhid = payload[1] if len(payload) > 1 else 0  # the byte the Host demuxes on
        drop = host.receive(SIM_INTERFACE, payload, sender.address, CARP_TTL, self.now)
        if drop is not None:  # no group of that vhid here
            self._record_drop(receiver, vhid, drop.reason, drop.detail)
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
