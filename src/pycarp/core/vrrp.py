"""VRRPv3 for one group: receive checks, election and timing (RFC 9568), for the machine.

A group with ``protocol = "vrrp3"`` runs the same :class:`~pycarp.core.machine.GroupMachine`
and transition table as a CARP group; the machine consults a :class:`VrrpRules` where the
protocols differ, and nowhere else:

* **receive**: TTL 255, the VRRPv3 codec (checksum with or without the IPv4 pseudo-header),
  VRID, our own packet. No digest and no counter: VRRPv3 has no authentication.
* **election** (:meth:`VrrpRules.judge`): priority decides, not timing. A higher priority is
  "faster" in the table's terms; equal priorities are won by the higher primary (source)
  address; priority 0 is a master leaving (CARP's bow-out), and backups take over after
  their skew only.
* **timing**: ``Skew_Time = (256 - priority) * interval / 256`` and ``Active_Down_Interval =
  3 * interval + Skew_Time``, where a backup's interval is the one the active router
  advertises (learned from its adverts), not its own.
* **demotion** lowers the priority sent (1 at least): maintenance mode sends priority 1.

An advert whose address list differs from ours is accepted (as FreeBSD does; keepalived 2.2.7,
seen live in tests/interop, logs it and drops the advert, so it becomes a second master) and
reported: :meth:`VrrpRules.address_mismatch` says when it is worth a fact.
"""

from __future__ import annotations

import typing

from pycarp.core import events as ev
from pycarp.core import vrrpwire
from pycarp.core.actions import AddressListMismatch, SendAdvertisement
from pycarp.core.constants import IPAddress
from pycarp.core.election import VERDICT_INPUT, Verdict
from pycarp.core.settings import GroupSettings
from pycarp.core.stats import DropReason, DropStats
from pycarp.core.table import TRANSITIONS, Input, State, Step, Transition
from pycarp.core.wire import DecodeError

WIRE_TTL = 255
DOWN_RATIO = 3  # Active_Down_Interval is three intervals and the skew
STALL_FLOOR = 1.0  # seconds: a timer late by less is the event loop, not a paused process
MISMATCH_MEMORY = 64  # senders whose differing address list we remember (reported once each)
MAX_PRIORITY_SENT = 254  # demotion never makes a non-owner the owner


_FOLLOWED_BY_MASTER = frozenset({Input.ADV_FASTER, Input.ADV_EQUAL_PEER_WINS})
_FOLLOWED_BY_BACKUP = _FOLLOWED_BY_MASTER | {Input.ADV_EQUAL_WE_WIN, Input.ADV_SLOWER}


def skew_time(priority: int, interval_cs: int) -> float:
    """RFC 9568's Skew_Time in seconds: ``(256 - priority) * interval / 256``."""
    return (256 - priority) * interval_cs / 256 / 100


def down_interval(priority: int, interval_cs: int) -> float:
    """RFC 9568's Active_Down_Interval in seconds: ``3 * interval + Skew_Time``."""
    return DOWN_RATIO * interval_cs / 100 + skew_time(priority, interval_cs)


def wire_priority(priority: int, demotion: int) -> int:
    """The priority sent: configured less the demotion, never below 1; a negative demotion
    raises it up to 254 at most (only the configured owner sends 255)."""
    if priority == vrrpwire.OWNER_PRIORITY and demotion <= 0:
        return priority
    return max(1, min(priority - demotion, MAX_PRIORITY_SENT))


def validate(packet: ev.PacketReceived, settings: GroupSettings) -> bytes:
    """The checked message bytes, or DecodeError naming the drop reason (cheapest first)."""
    if packet.ttl != WIRE_TTL:
        raise DecodeError(DropReason.BAD_TTL, f"TTL {packet.ttl}, must be 255")
    source = settings.source
    assert source is not None  # GroupSettings requires it for VRRP
    if packet.source.version != source.version:
        raise DecodeError(
            DropReason.BAD_VERSION,
            f"an IPv{packet.source.version} advert: this group is IPv{source.version}",
        )
    destination = vrrpwire.group_address(packet.source)
    message = vrrpwire.check(packet.payload, packet.source, destination, settings.vrrp_checksum)
    if message[1] != settings.vhid:
        raise DecodeError(DropReason.BAD_VHID, f"VRID {message[1]}, this group is {settings.vhid}")
    if packet.source == source:
        raise DecodeError(DropReason.OWN_PACKET, "our own advertisement")
    return message


class Heard(typing.NamedTuple):
    """A valid advert as the machine's table sees it, and what to say about it."""

    input: Input
    reason: str  # for people: why a state change it causes happens
    mismatch: AddressListMismatch | None  # its address list differs: say so (once per sender)


def primary_rank(address: IPAddress) -> tuple[int, int]:
    """Equal priorities: the higher rank (the numerically higher primary address) wins."""
    return (address.version, int(address))


class VrrpRules:
    """What differs for a VRRPv3 group; the machine holds one and asks it.

    Holds the one piece of VRRP state CARP has no counterpart for: the interval the active
    router advertises (``Active_Adver_Interval``), learned from its adverts.
    """

    __slots__ = (
        "_mismatched",
        "_settings",
        "_started_at",
        "_stats",
        "active_interval_cs",
        "address_mismatches",
        "last_priority",
    )

    def __init__(self, settings: GroupSettings, stats: DropStats) -> None:
        assert settings.source is not None  # GroupSettings requires it for VRRP
        self._settings = settings
        self._stats = stats
        self.active_interval_cs = settings.interval_cs
        self.last_priority: int | None = None  # of the last valid advert heard
        self._mismatched: dict[IPAddress, tuple[IPAddress, ...]] = {}
        self.address_mismatches = 0
        self._started_at = 0.0  # when the group last left INIT (preempt_delay counts from it)

    # -- timing ---------------------------------------------------------------------------

    def advertisement_interval(self) -> float:
        return self._settings.interval

    def master_down_interval(self, demotion: int) -> float:
        """Our Active_Down_Interval: three of the active router's intervals and our skew."""
        return down_interval(self.priority(demotion), self.active_interval_cs)

    def skew(self, demotion: int) -> float:
        """What a backup waits after a priority-0 advert."""
        return skew_time(self.priority(demotion), self.active_interval_cs)

    def start_wait(self, now: float, demotion: int) -> float:
        """The first master-down wait, leaving INIT: the address owner (255) takes over at
        once. The active router's interval is not known yet: ours until an advert says."""
        self._started_at = now
        self.active_interval_cs = self._settings.interval_cs
        if self.priority(demotion) == vrrpwire.OWNER_PRIORITY:
            return 0.0
        return self.master_down_interval(demotion)

    def stall_threshold(self) -> float:
        """A deadline this late means we were paused (a healthy loop is late by ms)."""
        return max(2 * self.advertisement_interval(), STALL_FLOOR)

    def priority(self, demotion: int) -> int:
        return wire_priority(self._settings.priority, demotion)

    # -- receive --------------------------------------------------------------------------

    def accept(self, packet: ev.PacketReceived) -> vrrpwire.VrrpAdvertisement:
        """The decoded advert, or DecodeError (counted) with the reason it is dropped."""
        try:
            message = validate(packet, self._settings)
        except DecodeError as error:
            self._stats.count(error.reason)
            raise
        adv = vrrpwire.parse(message, packet.source.version)
        self.last_priority = adv.priority
        return adv

    def address_mismatch(
        self, adv: vrrpwire.VrrpAdvertisement, source: IPAddress
    ) -> tuple[IPAddress, ...] | None:
        """Counted on every advert whose address set differs from ours; returned (to be
        reported) only when this sender's list is new to us, so a misconfigured peer is one
        fact, not one per advert."""
        if set(adv.addresses) == set(self._settings.addresses):
            self._mismatched.pop(source, None)
            return None
        self.address_mismatches += 1
        if self._mismatched.get(source) == adv.addresses:
            return None
        if len(self._mismatched) >= MISMATCH_MEMORY and source not in self._mismatched:
            self._mismatched.pop(next(iter(self._mismatched)))
        self._mismatched[source] = adv.addresses
        return adv.addresses

    def heard(self, packet: ev.PacketReceived, demotion: int, *, master: bool, now: float) -> Heard:
        """Check and judge a packet: its table input (a lower priority we may preempt is
        ADV_SLOWER_PREEMPT, which VRRP's table discards), or DecodeError (counted)."""
        adv = self.accept(packet)
        theirs = self.address_mismatch(adv, packet.source)
        mismatch = None
        if theirs is not None:
            mismatch = AddressListMismatch(
                source=packet.source, theirs=theirs, ours=self._settings.addresses
            )
        verdict = self.judge(adv, packet.source, demotion)
        said = (
            f"advert from {packet.source} (priority {adv.priority}, interval "
            f"{adv.interval:.2f} s) is {verdict.value.replace('_', ' ')}"
        )
        inp = VERDICT_INPUT[verdict]
        if verdict is Verdict.SLOWER and self.preempts(now):
            inp, said = Input.ADV_SLOWER_PREEMPT, f"preempting: {said}"
        self.learn(adv, inp, master=master)
        return Heard(inp, said, mismatch)

    # -- election -------------------------------------------------------------------------

    def judge(self, adv: vrrpwire.VrrpAdvertisement, source: IPAddress, demotion: int) -> Verdict:
        """Priority decides (higher is "faster"); equal: the higher primary address wins;
        priority 0 is a master leaving (DEPARTING)."""
        ours = self.priority(demotion)
        if adv.priority == vrrpwire.RELEASE_PRIORITY:
            return Verdict.DEPARTING
        if adv.priority > ours:
            return Verdict.FASTER
        if adv.priority < ours:
            return Verdict.SLOWER
        assert self._settings.source is not None  # GroupSettings requires it for VRRP
        if primary_rank(source) > primary_rank(self._settings.source):
            return Verdict.EQUAL_PEER_WINS
        return Verdict.EQUAL_WE_WIN

    def learn(self, adv: vrrpwire.VrrpAdvertisement, inp: Input, *, master: bool) -> None:
        """Adopt the active router's interval (Active_Adver_Interval) from an advert we follow:
        one that restarts a backup's timer, or one a master steps down for. Not from one we
        discard to preempt, nor from a priority-0 one (the sender is leaving)."""
        follows = _FOLLOWED_BY_MASTER if master else _FOLLOWED_BY_BACKUP
        if inp in follows:
            self.active_interval_cs = adv.interval_cs

    def preempts(self, now: float) -> bool:
        """A backup hearing a lower priority ignores it (RFC 9568: "discard"), so its timer
        runs out and it takes over, when preempt is on and ``preempt_delay`` has passed since
        the group started; otherwise the advert restarts its timer as any other."""
        settings = self._settings
        return settings.preempt and now - self._started_at >= settings.preempt_delay

    # -- send -----------------------------------------------------------------------------

    def send(self, demotion: int, *, release: bool = False) -> SendAdvertisement:
        """The action sending our advert (no counter, no digest: VRRPv3 has none)."""
        priority = vrrpwire.RELEASE_PRIORITY if release else self.priority(demotion)
        return SendAdvertisement(
            payload=self.advert(demotion, release=release),
            advbase=0,
            advskew=0,
            counter=0,
            bow_out=release,
            priority=priority,
        )

    def advert(self, demotion: int, *, release: bool = False) -> bytes:
        """Our advert, priority 0 when we leave (shutdown, hand-over)."""
        settings = self._settings
        source = settings.source
        assert source is not None
        adv = vrrpwire.VrrpAdvertisement(
            vrid=settings.vhid,
            priority=vrrpwire.RELEASE_PRIORITY if release else self.priority(demotion),
            interval_cs=settings.interval_cs,
            addresses=settings.addresses,
        )
        return vrrpwire.encode(adv, source, vrrpwire.group_address(source), settings.vrrp_checksum)


# Where VRRPv3 (RFC 9568) does something else than CARP with the same input; every other cell
# is CARP's. A master that hears a better router steps down without a last word (the RFC;
# keepalived's default); a master that hears a priority-0 advert sends one at once, so the
# backups do not take over after their skew; a backup that may preempt a lower priority
# discards its adverts (the RFC), so its master-down timer runs out and it takes over then.
_VRRP_CELLS: dict[tuple[State, Input], Transition] = {
    (State.MASTER, Input.ADV_FASTER): Transition(State.BACKUP, Step.STEP_DOWN),
    (State.MASTER, Input.ADV_EQUAL_PEER_WINS): Transition(State.BACKUP, Step.STEP_DOWN),
    (State.MASTER, Input.ADV_DEPARTING): Transition(State.MASTER, Step.ADVERTISE),
    (State.BACKUP, Input.ADV_SLOWER_PREEMPT): Transition(State.BACKUP, Step.IGNORE),
}
VRRP_TRANSITIONS: dict[tuple[State, Input], Transition] = TRANSITIONS | _VRRP_CELLS
