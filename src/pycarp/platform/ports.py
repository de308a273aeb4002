"""The contracts between the runtime and the operating system.

Each is small on purpose: the runtime's tests use in-memory fakes of exactly these, and the
Linux implementations live beside this file (``rawsock``, ``netlink``, ``announce``).
Blocking calls (netlink, ARP) are run by the runtime in a worker thread, off the timing path.
"""

from __future__ import annotations

import dataclasses
import typing

from pycarp.core.constants import IPAddress, IPInterface


class ReceivedPacket(typing.NamedTuple):
    """A protocol-112 packet as the core needs it: payload after the IP header, plus metadata.

    A named tuple, not a frozen dataclass: one is built per received packet, and under a
    flood of forged adverts building it was a tenth of the cost of rejecting one.
    """

    payload: bytes
    source: IPAddress
    destination: IPAddress
    ttl: int
    interface: str
    # When it arrived (monotonic, the event loop's clock), from the kernel's receive stamp:
    # earlier than when it was read by the time it waited in the socket. None: unknown.
    arrived: float | None = None


class AdvertSocket(typing.Protocol):
    """A non-blocking raw IP socket for protocol 112 on one interface and one address family.

    Sends to the CARP multicast group (224.0.0.18 / ff02::12) with TTL/hop limit 255 from the
    configured source, or to ``destination`` when given (unicast mode). Multicast loop is off.
    One socket serves every group of that interface.
    """

    interface: str

    def fileno(self) -> int: ...

    def send(self, payload: bytes, destination: IPAddress | None = None) -> None:
        """Send one advert; raises OSError on failure (the runtime counts send errors)."""

    def receive(self) -> ReceivedPacket | None:
        """One pending packet, or None when nothing is queued (never blocks)."""

    def join(self, group: IPAddress) -> None:
        """Also receive what is sent to multicast ``group`` on this interface (``--mcast``:
        a group's adverts go to another group than CARP's, and its peers' come from there).
        Joining a group twice changes nothing."""

    def close(self) -> None: ...


class AddressManager(typing.Protocol):
    """Idempotent address changes on an interface (blocking; run in a worker thread)."""

    def add(self, interface: str, address: IPInterface) -> bool:
        """Add the address; True if added, False if it was already there."""

    def remove(self, interface: str, address: IPInterface) -> bool:
        """Remove the address; True if removed, False if it was not there."""

    def addresses(self, interface: str) -> set[IPInterface]: ...

    def carrier(self, interface: str) -> bool:
        """True when the interface is administratively up and has carrier."""

    def close(self) -> None: ...


class AddressChange(typing.NamedTuple):
    """One address to add (``add``) or remove on an interface."""

    add: bool
    interface: str
    address: IPInterface


@typing.runtime_checkable
class AddressBatches(typing.Protocol):
    """An AddressManager that can also carry out many changes in one call (the Linux one).

    Optional: the runtime falls back to one ``add``/``remove`` per address without it.
    """

    def apply(self, changes: typing.Sequence[AddressChange]) -> list[bool | OSError]:
        """Per change, in order, what ``add``/``remove`` returns, or the OSError it raises."""


class LinkState(typing.NamedTuple):
    """An interface as a health track sees it: carrier (administratively up and the driver
    reports a link) and the kernel's operational state (``UP``, ``DOWN``, ``LOWERLAYERDOWN``,
    ``DORMANT``, ``UNKNOWN`` for drivers that do not report one, ...)."""

    carrier: bool
    operstate: str


LinkReader = typing.Callable[[str], LinkState]  # blocking; OSError(ENODEV) for no interface


class LinkWatcher(typing.Protocol):
    """Carrier changes, read from a file descriptor the event loop watches."""

    def fileno(self) -> int: ...

    def read(self) -> list[tuple[str, bool]]:
        """Pending (interface, carrier) changes; never blocks."""

    def close(self) -> None: ...


class Announcer(typing.Protocol):
    """Gratuitous ARP (IPv4) / unsolicited neighbour advertisement (IPv6) for taken addresses."""

    def announce(self, interface: str, addresses: typing.Sequence[IPAddress]) -> None: ...


class SocketFactory(typing.Protocol):
    def __call__(self, interface: str, source: IPAddress) -> AdvertSocket: ...


class VirtualMacs(typing.Protocol):
    """Per-group virtual-MAC interfaces (``vmac = true``): a macvlan with the group's MAC."""

    def attach(self, parent: str, vhid: int, mac: str) -> tuple[str, tuple[str, ...]]:
        """Create (or re-create) the group's interface on ``parent``, up. Returns its name
        and the host settings this call changed (``net.ipv4.conf.eth0.arp_ignore=1``)."""

    def open_sender(self, interface: str, source: IPAddress) -> AdvertSocket:
        """A socket that sends adverts from the virtual MAC (it is never read)."""

    def detach(self, interface: str) -> None:
        """Remove the interface (its addresses go with it)."""

    def close(self) -> None:
        """Remove what is left and restore every setting changed on the parents."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Platform:
    """Everything the runtime needs from the operating system, in one injectable bundle."""

    open_socket: SocketFactory
    addresses: AddressManager
    announcer: Announcer
    open_link_watcher: typing.Callable[[], LinkWatcher] | None = None
    # Interface health tracks; None: carrier only, from ``addresses.carrier`` (operstate unknown).
    read_link: LinkReader | None = None
    # Groups with ``vmac = true``; None: this platform has none (a group asking for it fails).
    virtual_macs: VirtualMacs | None = None
