"""What the simulator writes down while it runs: plain frozen records, in time order.

Tests and the ``pycarp simulate`` report read these and nothing else, so every question ("who
was master at t=12?", "how long was the gap?") is answered from the same facts.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from pycarp.core.actions import Hook
from pycarp.core.stats import DropReason
from pycarp.core.table import State
from pycarp.sim.faults import Fault


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TimelineEntry:
    """A group on a router changed state. ``by_machine`` is False when the simulator imposed it
    (a host crash takes the group away without the machine being asked)."""

    time: float
    router: str
    vhid: int
    old: State
    new: State
    reason: str
    by_machine: bool = True


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AdvertSent:
    """A router put an advertisement on its link (whether or not anyone heard it)."""

    time: float
    router: str
    vhid: int
    advbase: int
    advskew: int
    bow_out: bool


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Delivery:
    """An advertisement reached a running router and was handed to its machine."""

    sent_at: float
    time: float
    sender: str
    receiver: str
    vhid: int


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Loss:
    """An advertisement was lost on the way: on the sender's link (``outbound``, lost for
    every receiver) or on the receiver's link (``inbound``, this receiver only)."""

    time: float
    sender: str
    receiver: str | None  # None: lost on the sender's link, before anybody could hear it
    vhid: int
    outbound: bool


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Drop:
    """A router rejected a packet (``PacketDropped`` from a machine, or no group for its vhid)."""

    time: float
    router: str
    vhid: int
    reason: DropReason
    detail: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AddressChange:
    """A router started (``held``) or stopped holding a group's addresses."""

    time: float
    router: str
    vhid: int
    held: bool


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """Something a machine asked for that has no effect on the segment: an announcement
    (gratuitous ARP / NA, ``repeat`` as in the action) or an up/down hook."""

    time: float
    router: str
    vhid: int
    hook: Hook | None = None
    announce_repeat: int | None = None


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class FaultRecord:
    """A fault (or repair) the scenario injected, and when."""

    time: float
    fault: Fault
    was_master: tuple[int, ...] = ()  # vhids its host was MASTER of just before it


@dataclasses.dataclass(slots=True)
class RouterStats:
    """Running totals for one router, across all its restarts (machines' own stats reset)."""

    adverts_sent: int = 0
    bow_outs_sent: int = 0
    send_errors: int = 0
    adverts_lost_outbound: int = 0  # lost on this router's own link, for every receiver
    packets_delivered: int = 0
    packets_lost: int = 0  # on the way to this router (inbound loss)
    state_changes: int = 0
    announcements: int = 0
    hooks_run: int = 0
    address_mismatches: int = 0  # VRRPv3 adverts accepted with another address list
    drops: Counter[DropReason] = dataclasses.field(default_factory=Counter)

    def as_dict(self) -> dict[str, object]:
        plain = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "drops"
        }
        plain["drops"] = {reason.value: n for reason, n in sorted_drops(self.drops)}
        return plain


def sorted_drops(drops: Counter[DropReason]) -> list[tuple[DropReason, int]]:
    """Non-zero drop counts in the order the receive path checks them."""
    return [(reason, drops[reason]) for reason in DropReason if drops[reason]]
