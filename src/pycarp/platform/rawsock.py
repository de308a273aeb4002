"""Raw IP sockets for protocol 112 (CARP), IPv4 and IPv6, multicast or unicast.

Why the socket is set up the way it is:

* It is never ``bind()``-ed to the source address: for a raw socket that sets the address
  *received* packets must be sent to, and adverts go to 224.0.0.18 / ff02::12, so every one
  would be dropped. The source is pinned per packet instead, with ``IP_PKTINFO`` /
  ``IPV6_PKTINFO`` ancillary data, so it stays the host's own address even after a virtual
  address (possibly in another subnet) is added to the interface.
* ``SO_BINDTODEVICE`` plus a group membership on that interface only (and, for IPv4,
  ``IP_MULTICAST_ALL`` off) keep other interfaces' adverts out; multicast loop is off so a
  master never hears itself. A group that advertises to another multicast group (ucarp's
  ``--mcast``) has the socket join that one too (:meth:`join`): with ``IP_MULTICAST_ALL`` off
  nothing sent there would arrive otherwise.
* IPv4 raw sockets hand over the IP header (TTL, addresses come from it); IPv6 raw sockets do
  not, so hop limit and destination come from ``IPV6_RECVHOPLIMIT`` / ``IPV6_RECVPKTINFO``.
* Every packet carries the kernel's receive time stamp, so the core can start a timer from
  when an advert arrived rather than from when we read it (``platform/stamps.py``).

Nothing is validated here beyond "is it protocol 112": TTL and the rest are the core's job, so
that every drop is counted in one place.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import socket
import struct
import typing

from pycarp.core.constants import CARP_GROUP_V4, CARP_GROUP_V6, CARP_PROTOCOL, CARP_TTL, IPAddress
from pycarp.platform import stamps
from pycarp.platform.ports import ReceivedPacket

# DSCP CS7 (network control), what FreeBSD's net.inet.carp.dscp defaults to.
CARP_TRAFFIC_CLASS = 0xE0

# Linux values missing from Python 3.11's socket module.
_IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
_IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)
_IPV6_MULTICAST_ALL = getattr(socket, "IPV6_MULTICAST_ALL", 29)
# Adverts are 56 bytes (IPv4); the largest VRRPv3 one (255 IPv6 addresses) is about 4 KiB. A
# smaller buffer than 64 KiB per recv keeps a flood of small packets cheaper to read.
_MAX_PACKET = 8192
# Room for about a quarter of a second of a 50,000/s flood (each small packet takes about
# 1 KiB of socket memory), so a scheduling hiccup does not drop the real master's adverts.
_RECEIVE_BUFFER = 16 * 1024 * 1024
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_ANCILLARY_SPACE = socket.CMSG_SPACE(20) + socket.CMSG_SPACE(4) + stamps.STAMP_SPACE + 64


def _ip_mreqn(group: int, address: int, ifindex: int) -> bytes:
    """``struct ip_mreqn``: group and local address in network order, then the ifindex."""
    return struct.pack("!II", group, address) + struct.pack("@i", ifindex)


_IPV4_CACHE: dict[bytes, ipaddress.IPv4Address] = {}
_IPV4_CACHE_SIZE = 4096


def _ipv4(packed: bytes) -> ipaddress.IPv4Address:
    """The address object for 4 bytes, reused: a segment has few senders (and one group
    address), so a flood need not build two address objects per packet. Bounded: a flood
    from random sources only empties the cache now and then."""
    address = _IPV4_CACHE.get(packed)
    if address is None:
        if len(_IPV4_CACHE) >= _IPV4_CACHE_SIZE:
            _IPV4_CACHE.clear()
        address = _IPV4_CACHE[packed] = ipaddress.IPv4Address(packed)
    return address


def _plain_v6(text: str) -> ipaddress.IPv6Address:
    """An IPv6 address without its ``%scope`` (recvmsg adds one for link-local sources)."""
    return ipaddress.IPv6Address(text.partition("%")[0])


class _AdvertSocketBase:
    """What both families share: the fd, the default destination, non-blocking receive."""

    interface: str

    def __init__(
        self,
        sock: socket.socket,
        interface: str,
        ifindex: int,
        source: IPAddress,
        destination: IPAddress,
    ) -> None:
        self._sock = sock
        self.interface = interface
        self.ifindex = ifindex
        self.source = source
        self.destination = destination
        self._joined: set[IPAddress] = set()

    def join(self, group: IPAddress) -> None:
        if group in self._joined:  # a second membership would fail with EADDRINUSE
            return
        if not group.is_multicast or group.version != self.source.version:
            raise ValueError(f"{group} is not an IPv{self.source.version} multicast group")
        _join(self._sock, group, self.ifindex)
        self._joined.add(group)

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> _AdvertSocketBase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class IPv4AdvertSocket(_AdvertSocketBase):
    """AdvertSocket for IPv4: payload out, IP header parsed on the way in."""

    def send(self, payload: bytes, destination: IPAddress | None = None) -> None:
        target = self.destination if destination is None else destination
        if not isinstance(target, ipaddress.IPv4Address):
            raise TypeError(f"IPv4 socket cannot send to {target}")
        # struct in_pktinfo: ifindex, spec_dst (our source), addr (unused when sending).
        info = struct.pack("@i", self.ifindex) + self.source.packed + bytes(4)
        self._sock.sendmsg([payload], [(socket.IPPROTO_IP, _IP_PKTINFO, info)], 0, (str(target), 0))

    def receive(self) -> ReceivedPacket | None:
        while True:
            try:
                data, ancillary, _flags, _address = self._sock.recvmsg(
                    _MAX_PACKET, stamps.STAMP_SPACE
                )
            except (BlockingIOError, InterruptedError):
                return None
            packet = self._parse(data, stamps.arrival(ancillary))
            if packet is not None:
                return packet

    def _parse(self, data: bytes, arrived: float | None = None) -> ReceivedPacket | None:
        if len(data) < 20 or data[0] >> 4 != 4:
            return None
        header_len = (data[0] & 0x0F) * 4
        if header_len < 20 or len(data) < header_len or data[9] != CARP_PROTOCOL:
            return None
        return ReceivedPacket(
            payload=data[header_len:],
            source=_ipv4(data[12:16]),
            destination=_ipv4(data[16:20]),
            ttl=data[8],
            interface=self.interface,
            arrived=arrived,
        )


class IPv6AdvertSocket(_AdvertSocketBase):
    """AdvertSocket for IPv6: hop limit and destination arrive as ancillary data."""

    def send(self, payload: bytes, destination: IPAddress | None = None) -> None:
        target = self.destination if destination is None else destination
        if not isinstance(target, ipaddress.IPv6Address):
            raise TypeError(f"IPv6 socket cannot send to {target}")
        # struct in6_pktinfo: source address, then the outgoing ifindex.
        info = self.source.packed + struct.pack("@I", self.ifindex)
        scope = self.ifindex if target.is_link_local or target.is_multicast else 0
        self._sock.sendmsg(
            [payload],
            [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, info)],
            0,
            (str(target), 0, 0, scope),
        )

    def receive(self) -> ReceivedPacket | None:
        try:
            data, ancillary, _flags, address = self._sock.recvmsg(_MAX_PACKET, _ANCILLARY_SPACE)
        except (BlockingIOError, InterruptedError):
            return None
        hop_limit = -1
        destination = ipaddress.IPv6Address(0)
        arrived = stamps.arrival(ancillary)
        for level, kind, value in ancillary:
            if level != socket.IPPROTO_IPV6:
                continue
            if kind == socket.IPV6_HOPLIMIT and len(value) >= 4:
                hop_limit = struct.unpack("@i", value[:4])[0]
            elif kind == socket.IPV6_PKTINFO and len(value) >= 16:
                destination = ipaddress.IPv6Address(value[:16])
        return ReceivedPacket(
            payload=data,
            source=_plain_v6(address[0]),
            destination=destination,
            ttl=hop_limit,
            interface=self.interface,
            arrived=arrived,
        )


def open_advert_socket(
    interface: str,
    source: IPAddress,
    *,
    destination: IPAddress | None = None,
) -> IPv4AdvertSocket | IPv6AdvertSocket:
    """A non-blocking protocol-112 socket on ``interface``, sending from ``source``.

    ``destination`` None means multicast (224.0.0.18 / ff02::12, group joined on the
    interface); another multicast group is joined instead; a unicast peer means unicast mode:
    no group is joined, only adverts sent to this host's own addresses arrive.
    ``send(..., destination)`` overrides the peer per packet. The socket lives in the calling
    thread's network namespace.
    """
    try:
        ifindex = socket.if_nametoindex(interface)
    except OSError:  # Python's message, "no interface with this name", does not say which
        raise OSError(errno.ENODEV, f"no interface {interface}") from None
    if isinstance(source, ipaddress.IPv4Address):
        target4 = CARP_GROUP_V4 if destination is None else destination
        if not isinstance(target4, ipaddress.IPv4Address):
            raise TypeError(f"destination {target4} is not IPv4 like the source {source}")
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, CARP_PROTOCOL)
        with _closed_on_error(sock):
            _configure_v4(sock, interface, ifindex, source)
            opened4 = IPv4AdvertSocket(sock, interface, ifindex, source, target4)
            _join_destination(opened4, destination)
            return opened4
    target6 = CARP_GROUP_V6 if destination is None else destination
    if not isinstance(target6, ipaddress.IPv6Address):
        raise TypeError(f"destination {target6} is not IPv6 like the source {source}")
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, CARP_PROTOCOL)
    with _closed_on_error(sock):
        _configure_v6(sock, interface, ifindex)
        opened6 = IPv6AdvertSocket(sock, interface, ifindex, source, target6)
        _join_destination(opened6, destination)
        return opened6


def _join_destination(sock: _AdvertSocketBase, destination: IPAddress | None) -> None:
    """CARP's group by default, or the multicast ``destination`` instead; none for a peer."""
    if destination is None:
        sock.join(CARP_GROUP_V4 if sock.source.version == 4 else CARP_GROUP_V6)
    elif destination.is_multicast:
        sock.join(destination)


def _join(sock: socket.socket, group: IPAddress, ifindex: int) -> None:
    """A membership of ``group`` on the interface ``ifindex`` only."""
    if isinstance(group, ipaddress.IPv4Address):
        membership = _ip_mreqn(int(group), 0, ifindex)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
    else:
        membership6 = group.packed + struct.pack("@I", ifindex)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, membership6)


@contextlib.contextmanager
def _closed_on_error(sock: socket.socket) -> typing.Iterator[None]:
    try:
        yield
    except BaseException:
        sock.close()
        raise


def _enlarge_receive_buffer(sock: socket.socket) -> None:
    """Beyond ``net.core.rmem_max`` with CAP_NET_ADMIN (which pycarp has), else up to it."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _RECEIVE_BUFFER)
    except PermissionError:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)


def _configure_v4(
    sock: socket.socket,
    interface: str,
    ifindex: int,
    source: ipaddress.IPv4Address,
) -> None:
    sock.setblocking(False)
    _enlarge_receive_buffer(sock)
    stamps.enable(sock)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, CARP_TTL)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, CARP_TRAFFIC_CLASS)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, CARP_TTL)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
    sock.setsockopt(socket.IPPROTO_IP, _IP_MULTICAST_ALL, 0)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, _ip_mreqn(0, int(source), ifindex))


def _configure_v6(sock: socket.socket, interface: str, ifindex: int) -> None:
    sock.setblocking(False)
    _enlarge_receive_buffer(sock)
    stamps.enable(sock)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, interface.encode())
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, CARP_TTL)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, CARP_TRAFFIC_CLASS)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, CARP_TTL)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
    sock.setsockopt(socket.IPPROTO_IPV6, _IPV6_MULTICAST_ALL, 0)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
