"""The facts a running daemon publishes: typed, frozen, serialisable to one JSON object each.

Field names are the JSON schema (docs/events.md): renaming one is a breaking change for every
consumer of ``--events``. Each fact names its group as FreeBSD does (``vhid@interface``) and
carries ``vhid`` and ``interface`` separately, so no consumer has to split strings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, TypedDict

SCHEMA_VERSION = 1


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Fact:
    """Base class: ``kind`` is the ``"event"`` value in JSON."""

    kind: ClassVar[str] = "fact"

    def fields(self) -> dict[str, Any]:
        """The fact's fields as JSON-ready values (tuples become lists, mappings dicts)."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


class GroupNames(TypedDict):
    """The three fields that name a group in every group fact (``**names`` builds them)."""

    group: str
    vhid: int
    interface: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GroupFact(Fact):
    """A fact about one group."""

    group: str  # vhid@interface
    vhid: int
    interface: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DaemonStarted(Fact):
    kind: ClassVar[str] = "daemon_started"
    pid: int
    groups: int
    version: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DaemonStopping(Fact):
    kind: ClassVar[str] = "daemon_stopping"
    reason: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GroupStarted(GroupFact):
    kind: ClassVar[str] = "group_started"
    addresses: tuple[str, ...]
    advbase: int
    advskew: int
    link_up: bool
    signature: str  # kernel or ucarp
    address_mode: str  # native (pycarp adds them) or scripts
    protocol: str = "carp"  # or vrrp3 (then advbase, advskew and signature do not apply)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Unauthenticated(GroupFact):
    """The group runs a protocol without authentication (VRRPv3): said once, at start, because
    anybody on the segment can then take its addresses over."""

    kind: ClassVar[str] = "unauthenticated"
    protocol: str  # vrrp3
    priority: int
    interval: float  # seconds between adverts


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AddressListMismatch(GroupFact):
    """A VRRPv3 advert listed other addresses than this group has: accepted (as FreeBSD does;
    keepalived drops it), counted (``count``: this group's total so far), said once per sender
    and list."""

    kind: ClassVar[str] = "address_list_mismatch"
    source: str
    theirs: tuple[str, ...]
    ours: tuple[str, ...]
    count: int


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PassphraseCut(Fact):
    """Groups whose passphrase is longer than the key keeps: only its first ``used`` bytes
    sign (as FreeBSD's and OpenBSD's ``ifconfig ... pass``; ucarp refuses such a passphrase).
    Said once, when the groups start; ``longest`` is the longest passphrase among them."""

    kind: ClassVar[str] = "passphrase_cut"
    groups: tuple[str, ...]  # vhid@interface
    used: int
    longest: int


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class GroupStopped(GroupFact):
    kind: ClassVar[str] = "group_stopped"
    reason: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class VirtualMacAttached(GroupFact):
    """A ``vmac`` group got its interface: its addresses live there, its adverts leave from
    there. ``settings_changed``: host settings raised for it (restored at exit)."""

    kind: ClassVar[str] = "virtual_mac_attached"
    vmac_interface: str
    mac: str
    settings_changed: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CarrierChanged(Fact):
    """Carrier on an interface with CARP groups came or went (its groups go INIT / rejoin,
    and every other group is demoted while it is down)."""

    kind: ClassVar[str] = "carrier_changed"
    interface: str
    up: bool


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StateChanged(GroupFact):
    kind: ClassVar[str] = "state_changed"
    old: str
    new: str
    reason: str  # one sentence for people (may hold addresses and timings)
    cause: str  # a short stable word for programs and metric labels (docs/events.md)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AddressChanged(GroupFact):
    """An address was added or removed; ``latency_ms`` counts from the state change that asked
    for it (queueing included), so it is what a client waited for."""

    kind: ClassVar[str] = "address_changed"
    address: str  # with its prefix length
    added: bool
    latency_ms: float
    error: str = ""  # set: the change failed (and nothing changed)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Announced(GroupFact):
    """Gratuitous ARP / unsolicited NA sent for the group's addresses."""

    kind: ClassVar[str] = "announced"
    addresses: tuple[str, ...]
    error: str = ""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HookStarted(GroupFact):
    kind: ClassVar[str] = "hook_started"
    hook: str  # up, down, notify
    argv: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HookFinished(GroupFact):
    """``outcome``: ok (exit 0), failed (non-zero exit or could not start), timed_out."""

    kind: ClassVar[str] = "hook_finished"
    hook: str
    argv: tuple[str, ...]
    outcome: str
    exit_status: int | None
    duration_ms: float


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PacketDropped(Fact):
    """A dropped advert worth reporting (the first per reason and sender in a while; the
    counters in the status carry every drop). ``group`` is empty for a packet that matched no
    group on ``interface``."""

    kind: ClassVar[str] = "packet_dropped"
    group: str
    interface: str
    reason: str
    source: str
    detail: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DemotionChanged(GroupFact):
    """A group's demotion changed; ``sources`` names every contribution (non-zero ones)."""

    kind: ClassVar[str] = "demotion_changed"
    demotion: int
    sources: Mapping[str, int]
    advskew_on_wire: int


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ControlRequest(Fact):
    """An operator request over the control socket (or a signal: ``uid`` -1), and its answer."""

    kind: ClassVar[str] = "control"
    uid: int
    command: str
    arguments: Mapping[str, Any]
    ok: bool
    message: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StatusSnapshot(Fact):
    """The whole status document (docs/control.md), as ``pycarp status --json`` shows it."""

    kind: ClassVar[str] = "status"
    status: Mapping[str, Any]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TrackChanged(Fact):
    """A health track went up or down, or the demotion it contributes changed (a file
    track's value). ``demotion`` is what it adds to each of its ``groups`` now."""

    kind: ClassVar[str] = "track_changed"
    name: str
    up: bool
    demotion: int
    reason: str  # one sentence: "2 failures in a row", "first check: failed", ...
    fault: bool  # a fault track: its masters hand over while it is down
    groups: tuple[str, ...]  # vhid@interface; empty: every group of the daemon


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TrackCheckFailed(Fact):
    """A check failed, and its failure differs from the previous check's (a dead service
    checked every second is said once, not every second; the counters have every run).
    ``output`` holds the last lines the check printed (bounded)."""

    kind: ClassVar[str] = "track_check_failed"
    name: str
    result: str  # failed, timed_out, error
    exit_status: int | None
    detail: str  # one line: "exited with status 7", "no carrier", "not an integer: 'x'"
    output: tuple[str, ...]
