"""In-memory fakes of the platform Protocols, so whole daemons run in one event loop, no root.

A :class:`FakeSegment` is the "wire": every advert a :class:`FakeSocket` sends reaches every
other socket attached to the same segment, later (through the event loop), as a packet with TTL
255 and the sender's source address, exactly what the raw socket would hand the daemon. Each
socket signals arrivals on a real socketpair, so the daemon's ``add_reader`` path is the one
that runs in production. The segment also keeps a timestamped record of everything sent, which
is what the timing tests measure.

:class:`FakeHost` bundles one host's fakes into a :class:`~pycarp.platform.ports.Platform`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import errno
import ipaddress
import os
import socket
import threading
import typing

from pycarp.core import wire
from pycarp.core.constants import CARP_GROUP_V4, CARP_GROUP_V6, IPAddress, IPInterface
from pycarp.platform.ports import LinkState, Platform, ReceivedPacket

from .virtual_time import sleep_in_worker


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class SentPacket:
    """One packet put on a segment: when (event-loop time), by whom, and the bytes."""

    at: float
    source: IPAddress
    destination: IPAddress | None
    payload: bytes

    @property
    def advert(self) -> wire.Advertisement:
        return wire.decode(self.payload)


class FakeSegment:
    """A broadcast domain: what one socket sends, every other attached socket receives."""

    def __init__(self, *, latency: float = 0.0) -> None:
        self.latency = latency
        self.sent: list[SentPacket] = []
        self._sockets: list[FakeSocket] = []
        self._lock = threading.Lock()  # sockets are opened in worker threads

    def attach(self, sock: FakeSocket) -> None:
        with self._lock:
            self._sockets.append(sock)

    def detach(self, sock: FakeSocket) -> None:
        with self._lock:
            if sock in self._sockets:
                self._sockets.remove(sock)

    def transmit(self, sender: FakeSocket, payload: bytes, destination: IPAddress | None) -> None:
        """Record the packet and schedule its delivery to every other socket (or the peer)."""
        loop = asyncio.get_running_loop()
        sent = SentPacket(
            at=loop.time(), source=sender.source, destination=destination, payload=payload
        )
        self.sent.append(sent)
        with self._lock:
            receivers = [s for s in self._sockets if s is not sender]
        for receiver in receivers:
            unicast = destination is not None and not destination.is_multicast
            broadcast = destination == ipaddress.IPv4Address("255.255.255.255")
            if unicast and not broadcast and receiver.source != destination:
                continue
            multicast = destination is not None and destination.is_multicast
            if multicast and destination not in receiver.joined:  # as a socket: members only
                continue
            packet = ReceivedPacket(
                payload=payload,
                source=sender.source,
                destination=destination or _carp_group(sender.source),
                ttl=255,
                interface=receiver.interface,
            )
            loop.call_later(self.latency, receiver.deliver, packet)

    def adverts(
        self, *, source: IPAddress | None = None, vhid: int | None = None
    ) -> list[SentPacket]:
        """The packets sent so far, optionally only one sender's or one vhid's."""
        return [
            p
            for p in self.sent
            if (source is None or p.source == source)
            and (vhid is None or p.payload[1:2] == bytes([vhid]))
        ]


def _carp_group(source: IPAddress) -> IPAddress:
    return CARP_GROUP_V4 if source.version == 4 else CARP_GROUP_V6


class FakeSocket:
    """An :class:`~pycarp.platform.ports.AdvertSocket` on a :class:`FakeSegment`.

    Arrivals are queued in memory and announced by one byte on a socketpair whose reading end is
    what ``fileno()`` returns, so the event loop's ``add_reader`` wakes the daemon as it would
    for a raw socket. ``fail_sends`` makes ``send`` raise, as a real socket does on ENETUNREACH;
    ``send_error`` makes it raise that exception instead.
    """

    def __init__(self, segment: FakeSegment, interface: str, source: IPAddress) -> None:
        self.interface = interface
        self.source = source
        self.segment = segment
        self.fail_sends = False
        self.send_error: Exception | None = None
        self.closed = False
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._pending: collections.deque[ReceivedPacket] = collections.deque()
        self.joined: set[IPAddress] = {_carp_group(source)}  # as open_advert_socket does
        segment.attach(self)

    def fileno(self) -> int:
        return self._reader.fileno()

    def send(self, payload: bytes, destination: IPAddress | None = None) -> None:
        if self.closed:
            raise OSError(errno.EBADF, "socket closed")
        if self.send_error is not None:
            raise self.send_error
        if self.fail_sends:
            raise OSError(errno.ENETUNREACH, "network unreachable (fake)")
        self.segment.transmit(self, payload, destination)

    def deliver(self, packet: ReceivedPacket) -> None:
        """Called by the segment, in the event loop: queue the packet and wake the reader."""
        if self.closed:
            return
        self._pending.append(packet)
        self._writer.send(b"\0")

    def join(self, group: IPAddress) -> None:
        self.joined.add(group)

    def receive(self) -> ReceivedPacket | None:
        if self.closed:
            raise OSError(errno.EBADF, "socket closed")
        with contextlib.suppress(BlockingIOError):  # clear the wake-ups; the deque has the data
            self._reader.recv(4096)
        return self._pending.popleft() if self._pending else None

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.segment.detach(self)
        self._reader.close()
        self._writer.close()


@dataclasses.dataclass(frozen=True, slots=True)
class AddressCall:
    verb: str  # "add" or "remove"
    interface: str
    address: IPInterface
    changed: bool


class FakeAddressManager:
    """An idempotent per-interface address table; ``delay`` makes every change that slow.

    Called from worker threads by the runtime, hence the lock. ``carrier`` answers the start-up
    carrier query per interface (default True).
    """

    def __init__(self, *, delay: float = 0.0, carrier: dict[str, bool] | None = None) -> None:
        self.delay = delay
        self.carrier_by_interface = dict(carrier or {})
        self.calls: list[AddressCall] = []
        self.closed = False
        self._table: dict[str, set[IPInterface]] = collections.defaultdict(set)
        self._lock = threading.Lock()

    def add(self, interface: str, address: IPInterface) -> bool:
        sleep_in_worker(self.delay)
        with self._lock:
            changed = address not in self._table[interface]
            self._table[interface].add(address)
            self.calls.append(AddressCall("add", interface, address, changed))
        return changed

    def remove(self, interface: str, address: IPInterface) -> bool:
        sleep_in_worker(self.delay)
        with self._lock:
            changed = address in self._table[interface]
            self._table[interface].discard(address)
            self.calls.append(AddressCall("remove", interface, address, changed))
        return changed

    def addresses(self, interface: str) -> set[IPInterface]:
        with self._lock:
            return set(self._table[interface])

    def carrier(self, interface: str) -> bool:
        return self.carrier_by_interface.get(interface, True)

    def close(self) -> None:
        self.closed = True


class FakeAnnouncer:
    """Records every gratuitous ARP / NA request."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[IPAddress, ...]]] = []
        self._lock = threading.Lock()

    def announce(self, interface: str, addresses: typing.Sequence[IPAddress]) -> None:
        with self._lock:
            self.calls.append((interface, tuple(addresses)))


class FakeLinkWatcher:
    """Carrier changes pushed by the test, signalled on a pipe the event loop watches."""

    def __init__(self) -> None:
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        self._pending: collections.deque[tuple[str, bool]] = collections.deque()
        self.closed = False

    def push(self, interface: str, carrier: bool) -> None:
        self._pending.append((interface, carrier))
        os.write(self._write_fd, b"\0")

    def fileno(self) -> int:
        return self._read_fd

    def read(self) -> list[tuple[str, bool]]:
        with contextlib.suppress(BlockingIOError):
            os.read(self._read_fd, 4096)
        changes = list(self._pending)
        self._pending.clear()
        return changes

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self._read_fd)
            os.close(self._write_fd)


class FakeHost:
    """One host: its source address, the segment behind each interface, and its fakes."""

    def __init__(
        self,
        source: str,
        segments: dict[str, FakeSegment],
        *,
        address_delay: float = 0.0,
        carrier: dict[str, bool] | None = None,
    ) -> None:
        self.source = ipaddress.ip_address(source)
        self.segments = segments
        self.addresses = FakeAddressManager(delay=address_delay, carrier=carrier)
        self.announcer = FakeAnnouncer()
        self.links = FakeLinkWatcher()
        self.sockets: list[FakeSocket] = []
        # What interface health tracks read; an interface not here does not exist (ENODEV).
        self.link_states: dict[str, LinkState] = {}

    def open_socket(self, interface: str, source: IPAddress) -> FakeSocket:
        if interface not in self.segments:
            raise OSError(errno.ENODEV, f"no such interface: {interface}")
        sock = FakeSocket(self.segments[interface], interface, source)
        self.sockets.append(sock)
        return sock

    def platform(self) -> Platform:
        return Platform(
            open_socket=self.open_socket,
            addresses=self.addresses,
            announcer=self.announcer,
            open_link_watcher=self.open_link_watcher,
            read_link=self.read_link,
        )

    def read_link(self, interface: str) -> LinkState:
        state = self.link_states.get(interface)
        if state is None:
            raise OSError(errno.ENODEV, f"no interface {interface}")
        return state

    def open_link_watcher(self) -> FakeLinkWatcher:
        if self.links.closed:  # the daemon closes it on exit; a restarted daemon gets a new one
            self.links = FakeLinkWatcher()
        return self.links

    def close(self) -> None:
        """Release the fds a test's daemons did not (a crashed daemon, a failed start)."""
        for sock in self.sockets:
            sock.close()
        self.links.close()
