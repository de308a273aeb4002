"""Tell the segment who owns a virtual address now: gratuitous ARP and unsolicited NA.

IPv4: a broadcast ARP *request* whose sender and target IP are both the virtual address, sent
with the interface's own MAC (ucarp does the same; FreeBSD would use the virtual MAC, which we
do not have in userland). Neighbours that already have an entry for the address update it.

IPv6: a neighbour advertisement to ff02::1 with the Override flag set and a target link-layer
address option, hop limit 255 (receivers drop anything else, RFC 4861 7.1.2). The kernel fills
in the ICMPv6 checksum of raw ICMPv6 sockets.

Sockets are opened on first use, in the calling thread's network namespace, and kept (one
link-layer and one ICMPv6 socket per interface); a call is blocking and meant to run in a
worker thread.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import threading
import typing

from pycarp.core.constants import IPAddress

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
ARP_HW_ETHER = 1
ARP_REQUEST = 1
BROADCAST_MAC = b"\xff" * 6
ALL_NODES = ipaddress.IPv6Address("ff02::1")
ICMPV6_NEIGHBOR_ADVERT = 136
NA_FLAG_OVERRIDE = 0x20000000
ND_OPT_TARGET_LINKADDR = 2
ND_HOP_LIMIT = 255

ICMP6_FILTER = 1  # <linux/icmpv6.h>: which ICMPv6 types a raw socket receives
BLOCK_EVERY_TYPE = b"\xff" * 32  # the 256-bit filter, every type blocked: we only send
_ARP = struct.Struct("!HHBBH6s4s6s4s")
_ETHERNET = struct.Struct("!6s6sH")
_NA = struct.Struct("!BBHI16sBB6s")


def gratuitous_arp_frame(mac: bytes, address: ipaddress.IPv4Address) -> bytes:
    """Ethernet broadcast + ARP request "who has A? tell A" from ``mac``."""
    arp = _ARP.pack(
        ARP_HW_ETHER, ETH_P_IP, 6, 4, ARP_REQUEST, mac, address.packed, bytes(6), address.packed
    )
    return _ETHERNET.pack(BROADCAST_MAC, mac, ETH_P_ARP) + arp


def neighbour_advert(mac: bytes, address: ipaddress.IPv6Address) -> bytes:
    """ICMPv6 NA (checksum left zero for the kernel): Override set, Solicited/Router clear."""
    return _NA.pack(
        ICMPV6_NEIGHBOR_ADVERT,
        0,
        0,
        NA_FLAG_OVERRIDE,
        address.packed,
        ND_OPT_TARGET_LINKADDR,
        1,  # option length in units of 8 bytes
        mac,
    )


class LinuxAnnouncer:
    """Announcer for Linux: one frame per address, per call.

    The sockets of each interface are opened once and kept: opening, binding and closing an
    AF_PACKET socket each wait for an RCU grace period (~25 ms here), which made 255
    simultaneous takeovers queue for a quarter of a second (bench/scale.py); and an ICMPv6
    socket per call cost five more system calls per announcement, each a chance for the
    worker thread to lose the GIL to the event loop. The link-layer socket is bound with
    protocol 0 and the ICMPv6 one filters out every type, so neither receives anything. Both
    are re-opened once if a send fails (e.g. the interface was re-created). Safe to call from
    several worker threads.
    """

    def __init__(self) -> None:
        self._links: dict[str, tuple[socket.socket, bytes]] = {}
        self._icmp: dict[str, tuple[socket.socket, int]] = {}
        self._lock = threading.Lock()

    def announce(self, interface: str, addresses: typing.Sequence[IPAddress]) -> None:
        v4 = [a for a in addresses if isinstance(a, ipaddress.IPv4Address)]
        v6 = [a for a in addresses if isinstance(a, ipaddress.IPv6Address)]
        try:
            mac = self._send_arp(interface, v4)
        except OSError:
            self._forget(interface)  # stale socket: one more try with a fresh one
            mac = self._send_arp(interface, v4)
        if v6:
            try:
                self._advertise_v6(interface, mac, v6)
            except OSError:
                self._forget(interface)
                self._advertise_v6(interface, mac, v6)

    def _send_arp(self, interface: str, addresses: typing.Sequence[ipaddress.IPv4Address]) -> bytes:
        link, mac = self._link(interface)
        for address in addresses:
            link.send(gratuitous_arp_frame(mac, address))
        return mac

    def _link(self, interface: str) -> tuple[socket.socket, bytes]:
        with self._lock:
            if interface not in self._links:
                link = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
                try:
                    # Binding to the interface both scopes the send and tells us its MAC.
                    link.bind((interface, 0))
                except OSError:
                    link.close()
                    raise
                self._links[interface] = (link, link.getsockname()[4][:6])
            return self._links[interface]

    def _icmp_socket(self, interface: str) -> tuple[socket.socket, int]:
        with self._lock:
            if interface not in self._icmp:
                ifindex = socket.if_nametoindex(interface)
                icmp = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
                try:
                    icmp.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, BLOCK_EVERY_TYPE)
                    icmp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, ND_HOP_LIMIT)
                    icmp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
                    icmp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
                except OSError:
                    icmp.close()
                    raise
                self._icmp[interface] = (icmp, ifindex)
            return self._icmp[interface]

    def _forget(self, interface: str) -> None:
        with self._lock:
            entries = [self._links.pop(interface, None), self._icmp.pop(interface, None)]
        for entry in entries:
            if entry is not None:
                entry[0].close()

    def close(self) -> None:
        with self._lock:
            sockets = [entry[0] for entry in [*self._links.values(), *self._icmp.values()]]
            self._links, self._icmp = {}, {}
        for sock in sockets:
            sock.close()

    def _advertise_v6(
        self, interface: str, mac: bytes, addresses: typing.Sequence[ipaddress.IPv6Address]
    ) -> None:
        icmp, ifindex = self._icmp_socket(interface)
        destination = (str(ALL_NODES), 0, 0, ifindex)
        for address in addresses:
            packet = neighbour_advert(mac, address)
            # The advert comes from the address it announces, as the kernel's own do; if
            # that address is not (yet) usable as a source, let the kernel pick one.
            pinned = [
                (
                    socket.IPPROTO_IPV6,
                    socket.IPV6_PKTINFO,
                    address.packed + struct.pack("@I", ifindex),
                )
            ]
            try:
                icmp.sendmsg([packet], pinned, 0, destination)
            except OSError:
                icmp.sendmsg([packet], [], 0, destination)
