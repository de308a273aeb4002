"""Outputs of the state machine, in the imperative: what the runtime must do.

The runtime executes them in order. Logs, hooks, metrics and the status view all derive from
:class:`StateChanged` and :class:`PacketDropped`; nothing in the core logs by itself.
"""

from __future__ import annotations

import dataclasses
import enum

from pycarp.core.constants import IPAddress
from pycarp.core.stats import DropReason
from pycarp.core.table import State


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """Base class of every machine output."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SendAdvertisement(Action):
    """Send these 36 bytes (already encoded and signed) to the group's destination."""

    payload: bytes
    advbase: int
    advskew: int
    counter: int
    bow_out: bool = False
    priority: int | None = None  # VRRPv3 adverts (advbase and advskew are 0 then)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ClaimAddresses(Action):
    """Install the group's addresses on the interface (we are master)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseAddresses(Action):
    """Remove the group's addresses from the interface (idempotent: also stale ones)."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Announce(Action):
    """Gratuitous ARP / unsolicited NA for every address, so neighbours switch at once."""

    repeat: int = 0  # 0 on takeover; ucarp sends once more two adverts later (repeat=1)


class Hook(enum.Enum):
    UP = "up"
    DOWN = "down"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RunHook(Action):
    """Run the ucarp-style up or down script (when ucarp would run it)."""

    hook: Hook


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StateChanged(Action):
    """The group moved from ``old`` to ``new``; ``reason`` is for the log line and the hooks."""

    old: State
    new: State
    reason: str
    # A stable word for programs and metrics (core.table.CAUSES); left out of comparisons, as
    # it follows from the input that caused the change.
    cause: str = dataclasses.field(default="", compare=False)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PacketDropped(Action):
    """A received packet was rejected; the counter for ``reason`` has been incremented.

    ``report`` is True for the first drop per (reason, sender) in a while (bounded: see
    :class:`~pycarp.core.stats.DropReports`); only those carry a ``detail`` worth a log line.
    """

    reason: DropReason
    detail: str
    source: IPAddress | None = None
    report: bool = False


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AddressListMismatch(Action):
    """A VRRPv3 advert listed other addresses than ours. It was accepted (as keepalived and
    FreeBSD accept it) and counted; this action comes once per sender and list, to be said."""

    source: IPAddress
    theirs: tuple[IPAddress, ...]
    ours: tuple[IPAddress, ...]
