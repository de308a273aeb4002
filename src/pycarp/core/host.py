"""The host above the group machines: demux, host-wide demotion, and the one feed loop.

A host runs many groups on many interfaces. What belongs to no single group lives here:

- **demux**: a received packet goes to the group its vhid names on its interface; a packet for
  no group here is validated as far as it can be and counted per interface (``bad_vhid``);
- **demotion**, from every source, kept apart so the status can say which one is in force:
  carrier loss on a CARP interface (FreeBSD ``ifdown_demotion_factor``), the operator's
  host-wide counter (FreeBSD's ``net.inet.carp.demotion``, OpenBSD's ``carpdemote``), an
  operator counter per group, maintenance mode (the maximum) and health tracks (the weights
  of the down ones; a down *fault* track is per-group maintenance: the ceiling, and its
  masters hand over); send-error demotion is the group machine's own and is reported with
  the others;
- **the feed loop**: event -> machine -> actions, each carried out by the injected
  ``execute`` (which may answer with a follow-up event: a send's result), then the group's
  deadline handed to the injected ``rearm`` when it moved.

Pure: no clock (``now`` is an argument), no I/O (``execute`` and ``rearm`` are the caller's),
randomness injected. The asyncio daemon, the simulator and the core tests drive this one class.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable, Iterator

from pycarp.core import events as ev
from pycarp.core import wire
from pycarp.core.actions import Action, PacketDropped
from pycarp.core.constants import IPAddress
from pycarp.core.machine import GroupMachine
from pycarp.core.replay import RandomSource
from pycarp.core.settings import DEFAULT_DEMOTION_FACTOR, GroupSettings
from pycarp.core.stats import DropReason, DropReports, DropStats, Report
from pycarp.core.table import State
from pycarp.core.timing import MAX_WIRE_ADVSKEW
from pycarp.core.track import Result, TrackChange, TrackError, TrackSpec, TrackState
from pycarp.core.vrrpwire import VRRP_VERSION

GroupKey = tuple[str, int]  # (interface, vhid)
Execute = Callable[[GroupKey, Action], ev.Event | None]
Rearm = Callable[[GroupKey, float | None], None]

MAINTENANCE_DEMOTION = MAX_WIRE_ADVSKEW  # every group's advskew on the wire becomes 240
OPERATOR_DEMOTION_LIMIT = 1_000_000  # the operator counters stay within +/- this


@dataclasses.dataclass(frozen=True, slots=True)
class DemotionSources:
    """A group's demotion, by source. ``total`` is what is added to its advskew."""

    carrier: int = 0
    send_errors: int = 0
    operator: int = 0
    group_operator: int = 0
    maintenance: int = 0
    tracks: int = 0

    @property
    def total(self) -> int:
        return (
            self.carrier
            + self.send_errors
            + self.operator
            + self.group_operator
            + self.maintenance
            + self.tracks
        )

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}


@dataclasses.dataclass(slots=True)
class HostedGroup:
    key: GroupKey
    machine: GroupMachine
    ignore_ifstate: bool
    operator_demotion: int = 0
    last_deadline: float | None = None


# One shared drop per reason for packets that are only counted: a flood allocates nothing.
_COUNTED_ONLY = {reason: PacketDropped(reason=reason, detail="") for reason in DropReason}


class Host:
    def __init__(
        self,
        rng: RandomSource,
        execute: Execute,
        rearm: Rearm,
        *,
        ifdown_factor: int = DEFAULT_DEMOTION_FACTOR,
    ) -> None:
        self._rng = rng
        self._execute = execute
        self._rearm = rearm
        self._ifdown_factor = ifdown_factor
        self.groups: dict[GroupKey, HostedGroup] = {}
        self.interface_drops: dict[str, DropStats] = {}
        self._reports: dict[str, DropReports] = {}
        self.carrier: dict[str, bool] = {}
        # Groups per interface that follow its carrier: the carrier demotion is computed from
        # interfaces, never by walking every group (10,000 groups start in linear time).
        self._watchers: collections.Counter[str] = collections.Counter()
        # VRRPv3 groups per interface: there, a VRRPv3 advert for no group is another VRID's
        # (bad_vhid), not a foreign protocol's (vrrp).
        self._vrrp_groups: collections.Counter[str] = collections.Counter()
        self.operator_demotion = 0
        self.maintenance = False
        self.tracks: dict[str, TrackState] = {}

    # -- groups ------------------------------------------------------------------------------

    def add(
        self,
        interface: str,
        settings: GroupSettings,
        now: float,
        *,
        link_up: bool = True,
        ignore_ifstate: bool = False,
        rng: RandomSource | None = None,
    ) -> GroupKey:
        """Start a group. ``link_up`` is the carrier on ``interface`` as read at start.

        ``rng`` gives the group a random source of its own (default: the host's). The
        simulator gives each group its own seeded stream, so a group's counters do not depend
        on how many groups share the host or in which order they draw.
        """
        key = (interface, settings.vhid)
        if key in self.groups:
            raise ValueError(f"vhid {settings.vhid} on {interface} runs already")
        machine = GroupMachine(settings, self._rng if rng is None else rng)
        carrier_before = self.carrier_demotion()
        self.groups[key] = HostedGroup(key, machine, ignore_ifstate)
        self.interface_drops.setdefault(interface, DropStats())
        self._vrrp_groups[interface] += settings.vrrp
        if not ignore_ifstate:
            self.carrier.setdefault(interface, link_up)
            self._watchers[interface] += 1
        if self.carrier_demotion() != carrier_before:
            self._demotion_changed(now)  # a carrier-less interface demotes the others too
        elif demotion := self._demotion_of(key):
            self.feed(key, ev.DemotionChanged(demotion=demotion), now)
        self.feed(key, ev.Started(link_up=ignore_ifstate or self.carrier[interface]), now)
        return key

    def remove(self, key: GroupKey, now: float) -> None:
        """Stop a group: a master bows out, releases its addresses and runs its down hook."""
        self.feed(key, ev.ShutdownRequested(), now)  # disarms the timer as the machine stops
        carrier_before = self.carrier_demotion()
        group = self.groups.pop(key)
        self._vrrp_groups[key[0]] -= group.machine.settings.vrrp
        if not group.ignore_ifstate:
            self._watchers[key[0]] -= 1
        if group.last_deadline is not None:  # the caller still holds a timer for it
            self._rearm(key, None)
        if self.carrier_demotion() != carrier_before:
            self._demotion_changed(now)

    def machine(self, key: GroupKey) -> GroupMachine:
        return self.groups[key].machine

    def __iter__(self) -> Iterator[GroupKey]:
        return iter(self.groups)

    # -- the feed loop -----------------------------------------------------------------------

    def feed(self, key: GroupKey, event: ev.Event, now: float) -> None:
        """Run ``event`` through the group's machine, carry out the actions (and any follow-up
        events they produce), then re-arm the group's timer if its deadline moved."""
        self._feed(self.groups[key], key, event, now)

    def _feed(self, group: HostedGroup, key: GroupKey, event: ev.Event, now: float) -> None:
        # Every received packet comes through here (a flood too): no list unless an action
        # answers with a follow-up event (a send's result), no re-arm unless the deadline moved.
        machine, execute = group.machine, self._execute
        pending: list[ev.Event] | None = None
        while True:
            for action in machine.handle(event, now):
                follow_up = execute(key, action)
                if follow_up is not None:
                    pending = [follow_up] if pending is None else [*pending, follow_up]
            if not pending:
                break
            event, *pending = pending
        deadline = machine.next_deadline
        if deadline != group.last_deadline:
            group.last_deadline = deadline
            self._rearm(key, deadline)

    def timer(self, key: GroupKey, now: float) -> None:
        """The group's deadline was reached (the caller's timer fired)."""
        group = self.groups.get(key)
        if group is None:
            return
        group.last_deadline = None  # the caller's timer is spent: a new one is always wanted
        self.feed(key, ev.TimerExpired(), now)

    def receive(
        self,
        interface: str,
        payload: bytes,
        source: IPAddress,
        ttl: int,
        now: float,
        *,
        queued: bool = False,
        arrived: float | None = None,
    ) -> PacketDropped | None:
        """Hand a received packet to its group. A packet for no group here is counted per
        interface and returned as a drop (``report`` set for the first per reason and sender
        in a while, as a group's own drops); None: a group took it.

        ``arrived``: when the packet reached the host, if the caller knows (the kernel's
        receive stamp), earlier than ``now`` by the time it waited to be read. The group takes
        the packet as of then, so a backup's master-down timer runs from the advert's arrival
        and the process's wake-up and dispatch are not added to every takeover; never before
        the last time the group was given, since its time only moves forward.
        """
        vhid = payload[1] if len(payload) > 1 else 0
        key = (interface, vhid)
        group = self.groups.get(key)
        if group is not None:
            packet = ev.PacketReceived(payload=payload, source=source, ttl=ttl, queued=queued)
            if arrived is not None and arrived < now:
                now = max(arrived, group.machine.last_now)
            self._feed(group, key, packet, now)
            return None
        stats = self.interface_drops.setdefault(interface, DropStats())
        reason, problem = DropReason.BAD_VHID, ""
        try:
            another_vrid = (
                self._vrrp_groups[interface] > 0
                and len(payload) > 1
                and payload[0] >> 4 == VRRP_VERSION
            )
            if not another_vrid:
                wire.decode(payload)
        except wire.DecodeError as error:
            reason, problem = error.reason, str(error)
        stats.count(reason)
        reports = self._reports.setdefault(interface, DropReports())
        verdict = reports.classify(reason, source, now)
        if verdict is Report.SEEN or verdict is Report.SILENT:
            return _COUNTED_ONLY[reason]
        if verdict is Report.LIMIT:
            detail = "(further senders are counted only)"
        elif problem:
            detail = f"from {source}: {problem}"
        else:
            detail = f"for vhid {vhid} from {source}: no such group here"
        return PacketDropped(reason=reason, detail=detail, source=source, report=True)

    # -- carrier -----------------------------------------------------------------------------

    def watches_carrier(self, interface: str) -> bool:
        """Some group on ``interface`` follows its carrier (not ``ignore_ifstate``)."""
        return self._watchers[interface] > 0

    def link_changed(self, interface: str, up: bool, now: float) -> bool:
        """Carrier on ``interface`` changed; False if it changes nothing (same as known, or no
        group there watches carrier)."""
        affected = [
            key
            for key, group in self.groups.items()
            if key[0] == interface and not group.ignore_ifstate
        ]
        if self.carrier.get(interface) == up or not affected:
            self.carrier[interface] = up
            return False
        self.carrier[interface] = up
        # Demotion first: a group rejoining on carrier-up arms its master-down timer with the
        # advskew it will actually send, not with the demotion its own link loss caused.
        self._demotion_changed(now)
        for key in affected:
            self.feed(key, ev.LinkChanged(up=up), now)
        return True

    # -- operator ----------------------------------------------------------------------------

    def demote(self, mode: str, amount: int, now: float, key: GroupKey | None = None) -> int:
        """Change an operator counter (host-wide, or ``key``'s): ``+`` adds, ``-`` subtracts,
        ``=`` sets. Returns the new value, kept within +/- OPERATOR_DEMOTION_LIMIT. A negative
        counter is allowed (FreeBSD): the advskew on the wire never goes below 0."""
        current = self.operator_demotion if key is None else self.groups[key].operator_demotion
        value = {"+": current + amount, "-": current - amount, "=": amount}[mode]
        value = max(-OPERATOR_DEMOTION_LIMIT, min(OPERATOR_DEMOTION_LIMIT, value))
        if key is None:
            self.operator_demotion = value
        else:
            self.groups[key].operator_demotion = value
        self._demotion_changed(now)
        return value

    def set_maintenance(self, on: bool, now: float, reason: str = "maintenance mode") -> None:
        """On: every group demotes to the maximum and every master hands over with a bow-out
        (a backup takes over within its own skew). Off: the configured advskew is back."""
        self.maintenance = on
        self._demotion_changed(now)
        if on:
            self.hand_over(now, reason)

    def hand_over(self, now: float, reason: str) -> list[GroupKey]:
        """Every master leaves with a bow-out (ucarp's SIGUSR2); returns the groups that did."""
        masters = [key for key, g in self.groups.items() if g.machine.state is State.MASTER]
        for key in masters:
            self.feed(key, ev.HandOverRequested(reason=reason), now)
        return masters

    def force(self, key: GroupKey, state: ev.ForcedState, now: float) -> None:
        self.feed(key, ev.AdminForced(state=state), now)

    # -- health tracks -----------------------------------------------------------------------

    def add_track(self, spec: TrackSpec) -> None:
        """Register a track (up, contributing nothing, until its first result)."""
        if spec.name in self.tracks:
            raise TrackError(f"track {spec.name} exists already")
        self.tracks[spec.name] = TrackState(spec)

    def remove_track(self, name: str, now: float) -> None:
        """Forget a track; the demotion it contributed goes with it (none is stranded)."""
        self._track(name)
        del self.tracks[name]
        self._demotion_changed(now)

    def track_result(
        self, name: str, result: Result, now: float, value: int | None = None
    ) -> TrackChange | None:
        """One check result for track ``name`` (``value``: a file track's integer).

        A change re-demotes the track's groups; a fault track going down then makes their
        masters hand over with a bow-out (demotion first, so each arms its master-down timer
        with the ceiling it will advertise). Its backups stay backups: the demotion keeps them
        behind every healthy node, and the best of them still takes over when nobody else
        holds the address (see docs/behaviour.md, "Health tracks").
        """
        track = self._track(name)
        change = track.record(result, now, value)
        if change is None:
            return None
        self._demotion_changed(now)
        if change.went_down and track.spec.fault:
            reason = f"track {name} is down: handing over"
            for key, group in list(self.groups.items()):
                if track.spec.covers(key) and group.machine.state is State.MASTER:
                    self.feed(key, ev.HandOverRequested(reason=reason), now)
        return change

    def track_demotion(self, key: GroupKey) -> int:
        return sum(t.demotion for t in self.tracks.values() if t.spec.covers(key))

    def _track(self, name: str) -> TrackState:
        track = self.tracks.get(name)
        if track is None:
            raise TrackError(f"no track {name}")
        return track

    # -- demotion ----------------------------------------------------------------------------

    def sources(self, key: GroupKey) -> DemotionSources:
        group = self.groups[key]
        machine = group.machine
        return DemotionSources(
            carrier=self.carrier_demotion(),
            send_errors=machine.demotion - machine.host_demotion,
            operator=self.operator_demotion,
            group_operator=group.operator_demotion,
            maintenance=MAINTENANCE_DEMOTION if self.maintenance else 0,
            tracks=self.track_demotion(key) if self.tracks else 0,
        )

    def carrier_demotion(self) -> int:
        """A factor per CARP interface without carrier (carrier of ignore_ifstate groups is not
        watched)."""
        down = sum(
            1 for name, count in self._watchers.items() if count and self.carrier.get(name) is False
        )
        return self._ifdown_factor * down

    def _demotion_of(self, key: GroupKey) -> int:
        sources = self.sources(key)
        return sources.total - sources.send_errors

    def _demotion_changed(self, now: float) -> None:
        for key, group in self.groups.items():
            wanted = self._demotion_of(key)
            if group.machine.host_demotion != wanted:
                self.feed(key, ev.DemotionChanged(demotion=wanted), now)
