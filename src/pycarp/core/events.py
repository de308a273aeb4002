"""Inputs to the state machine, in the past tense: things that happened.

Frozen, slotted, keyword-only dataclasses under one base class, so a test (or a trace replay)
can build them, compare them and print them.
"""

from __future__ import annotations

import dataclasses
import enum

from pycarp.core.constants import IPAddress


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base class of every machine input."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Started(Event):
    """The daemon brought the group up; ``link_up`` False waits in INIT for carrier."""

    link_up: bool = True


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PacketReceived(Event):
    """Bytes after the IP header of a protocol-112 packet, with what the IP header said.

    ``queued`` marks a packet that the timer's callback read before handing over the timer
    itself: it waited in the socket while our deadline passed, so if the timer is long
    overdue (we were paused) the packet is judged as the paused machine must judge it.
    """

    payload: bytes
    source: IPAddress
    ttl: int
    queued: bool = False


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TimerExpired(Event):
    """The deadline the machine last reported has passed."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LinkChanged(Event):
    """Carrier on the group's interface went up or down."""

    up: bool


class ForcedState(enum.Enum):
    MASTER = "MASTER"
    BACKUP = "BACKUP"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AdminForced(Event):
    """The operator forced a state (FreeBSD ``ifconfig ... state master|backup``)."""

    state: ForcedState


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DemotionChanged(Event):
    """The host-wide demotion (FreeBSD ``net.inet.carp.demotion``) has a new value."""

    demotion: int


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SendCompleted(Event):
    """The result of the last SendAdvertisement: three failures in a row demote the group.

    ``error`` set means the failure is not transient (not a full buffer or a link going away,
    but a send that can never work): the group leaves MASTER and stays out, saying why.
    """

    ok: bool
    error: str = ""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ShutdownRequested(Event):
    """The daemon is stopping: a master bows out so a backup takes over within one interval."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HandOverRequested(Event):
    """Leave MASTER now with a bow-out advert, so a backup takes over within its own skew
    (maintenance mode, ucarp's SIGUSR2); a backup stays a backup. ``reason`` is for the log."""

    reason: str
