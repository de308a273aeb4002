"""Faults and repairs a scenario can inject, as data.

Being data (not method calls) lets a scenario be written as a list of ``(time, fault)``, lets the
random scenario generate one from a seed, and lets the report print and export exactly what was
done. :meth:`pycarp.sim.Simulator.apply` carries each one out.
"""

from __future__ import annotations

import dataclasses

from pycarp.core.events import ForcedState


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Fault:
    """Base class of every injectable fault or repair."""

    @property
    def kind(self) -> str:
        return _KIND_NAMES[type(self)]

    @property
    def host(self) -> str | None:
        """The router the fault is about, if it is about one."""
        router = getattr(self, "router", None)
        return router if isinstance(router, str) else None

    def describe(self) -> str:
        raise NotImplementedError


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Crash(Fault):
    """The host dies: its groups vanish with their addresses, nothing is sent (no bow-out)."""

    router: str

    def describe(self) -> str:
        return "crashed (no bow-out, addresses gone)"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Restart(Fault):
    """A crashed host boots again: fresh machines, started with the link as it is."""

    router: str

    def describe(self) -> str:
        return "restarted (fresh daemon)"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Stop(Fault):
    """The daemon is stopped gracefully: a master bows out before leaving."""

    router: str

    def describe(self) -> str:
        return "daemon stopped gracefully (a master bows out)"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Start(Fault):
    """A stopped daemon (host still up) is started again."""

    router: str

    def describe(self) -> str:
        return "daemon started"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LinkDown(Fault):
    """The host's cable loses carrier: it neither sends nor hears, its groups go to INIT."""

    router: str

    def describe(self) -> str:
        return "link down (carrier lost)"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LinkUp(Fault):
    router: str

    def describe(self) -> str:
        return "link up (carrier back)"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Partition(Fault):
    """Split the segment: routers hear only those in their own group; unlisted ones hear nobody."""

    groups: tuple[tuple[str, ...], ...]

    def describe(self) -> str:
        return "segment partitioned: " + " | ".join(", ".join(group) for group in self.groups)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Heal(Fault):
    """Undo any partition: everyone hears everyone again."""

    def describe(self) -> str:
        return "partition healed"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SetLoss(Fault):
    """Inbound loss probability on one router's link, or on every link when ``router`` is None."""

    probability: float
    router: str | None = None

    def describe(self) -> str:
        where = "its link" if self.router else "every link"
        return f"inbound loss on {where} set to {self.probability:.0%}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Force(Fault):
    """The operator forces a state (``ifconfig ... state``) on one group, or on all of them."""

    router: str
    state: ForcedState
    vhid: int | None = None

    def describe(self) -> str:
        which = f"vhid {self.vhid}" if self.vhid is not None else "all groups"
        return f"operator forces {which} to {self.state.value}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SetDemotion(Fault):
    """The host-wide demotion (``net.inet.carp.demotion``) is set on one router.

    It is the host's operator counter, set to ``demotion`` (negative allowed, as in FreeBSD).
    Like the sysctl it survives a restart of the daemon: a restarted router starts demoted.
    """

    router: str
    demotion: int

    def describe(self) -> str:
        return f"demotion set to {self.demotion}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SendErrors(Fault):
    """Sends from this router start (or stop) failing, as with a full queue or no route."""

    router: str
    failing: bool

    def describe(self) -> str:
        return "sends start failing" if self.failing else "sends work again"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Demote(Fault):
    """The operator changes a demotion counter (``pycarp demote``): host-wide, or one group's.

    ``mode`` ``+`` adds, ``-`` subtracts, ``=`` sets. The host-wide counter is the one
    :class:`SetDemotion` sets (and survives a restart with it); a group's counter lives in the
    daemon and is gone after a restart.
    """

    router: str
    mode: str
    amount: int
    vhid: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("+", "-", "="):
            raise ValueError(f"demote mode {self.mode!r}: one of + - =")

    def describe(self) -> str:
        which = f"vhid {self.vhid}" if self.vhid is not None else "host-wide"
        verb = {"+": "raised by", "-": "lowered by", "=": "set to"}[self.mode]
        return f"operator demotion ({which}) {verb} {self.amount}"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Maintenance(Fault):
    """Maintenance mode on or off (``pycarp maintenance``).

    On: every group is demoted to the maximum and every master hands over with a bow-out.
    The daemon saves it before it takes effect, so a restarted router comes back in it.
    """

    router: str
    on: bool

    def describe(self) -> str:
        if self.on:
            return "maintenance on (demoted to the maximum, masters hand over)"
        return "maintenance off (configured advskew back)"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HandOver(Fault):
    """Every master of the router leaves with a bow-out, demotion unchanged (ucarp's SIGUSR2).

    Nothing is demoted: a preempting router that handed over takes the group back when it
    hears the (slower) new master, so the hand-over lasts only with preempt off.
    """

    router: str

    def describe(self) -> str:
        return "masters hand over (SIGUSR2)"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Service(Fault):
    """The service a health track checks dies (``healthy`` False) or works again.

    The router's checks see it at their next runs (every ``interval`` of the track), and the
    track's fall/rise decide when that moves anything. The service lives outside the daemon:
    a restarted daemon finds it as it was.
    """

    router: str
    track: str
    healthy: bool

    def describe(self) -> str:
        return f"service of track {self.track} {'works again' if self.healthy else 'dies'}"


_KIND_NAMES: dict[type[Fault], str] = {
    Crash: "crash",
    Restart: "restart",
    Stop: "stop",
    Start: "start",
    LinkDown: "link-down",
    LinkUp: "link-up",
    Partition: "partition",
    Heal: "heal",
    SetLoss: "loss",
    Force: "force",
    SetDemotion: "demotion",
    SendErrors: "send-errors",
    Demote: "demote",
    Maintenance: "maintenance",
    HandOver: "hand-over",
    Service: "service",
}
