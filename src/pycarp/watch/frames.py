"""From a link-layer frame to what the watcher looks at: who sent it (MAC) and what it says.

Three kinds of packet matter: protocol-112 IP packets (CARP and VRRP adverts), ARP replies and
gratuitous ARPs, and IPv6 neighbour advertisements. The last two tell which addresses a MAC
announces, which gives candidate address sets for the digest check (the addresses a group
covers are never in its adverts). Everything else is ``None``. Nothing here raises on hostile
bytes: a frame too short for what it claims is simply not one of these.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import struct

from pycarp import pcap
from pycarp.core.constants import IPAddress

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_ARP = 0x0806
_VLAN = (0x8100, 0x88A8, 0x9100)
_ICMPV6 = 58
_NEIGHBOUR_ADVERTISEMENT = 136


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Announcement:
    """A MAC says it owns an address (ARP reply / gratuitous ARP, or a neighbour advert)."""

    mac: str
    address: IPAddress


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Carried:
    """What a frame carries: the sender's MAC if the link has one, and the network bytes."""

    mac: str | None
    ethertype: int
    network: bytes


def mac_text(raw: bytes) -> str:
    return raw.hex(":")


def split_frame(linktype: int, frame: bytes) -> Carried | None:
    """The network-layer bytes of a frame of a pcap link type (None: unknown or too short)."""
    if linktype == pcap.LINKTYPE_ETHERNET:
        if len(frame) < 14:
            return None
        offset, ethertype = 14, _u16(frame, 12)
        while ethertype in _VLAN:
            ethertype = _u16(frame, offset + 2)
            offset += 4
        return Carried(mac=mac_text(frame[6:12]), ethertype=ethertype, network=frame[offset:])
    if linktype == pcap.LINKTYPE_LINUX_SLL:
        if len(frame) < 16:
            return None
        length = _u16(frame, 4)
        mac = mac_text(frame[6:12]) if length == 6 else None
        return Carried(mac=mac, ethertype=_u16(frame, 14), network=frame[16:])
    if linktype == pcap.LINKTYPE_LINUX_SLL2:
        if len(frame) < 20:
            return None
        mac = mac_text(frame[12:18]) if frame[11] == 6 else None
        return Carried(mac=mac, ethertype=_u16(frame, 0), network=frame[20:])
    if linktype in (pcap.LINKTYPE_RAW, pcap.LINKTYPE_IPV4, pcap.LINKTYPE_IPV6) and frame:
        version = frame[0] >> 4
        ethertype = ETHERTYPE_IPV4 if version == 4 else ETHERTYPE_IPV6
        return Carried(mac=None, ethertype=ethertype, network=frame)
    return None


def parse_arp(data: bytes) -> Announcement | None:
    """A gratuitous ARP (request or reply whose sender address is its target address).

    Only those: ordinary replies also announce each node's own address, which is not one of a
    group's virtual addresses and would spoil the candidate sets.
    """
    if len(data) < 28:
        return None
    hardware, protocol, hlen, plen, operation = struct.unpack_from("!HHBBH", data)
    if (hardware, protocol, hlen, plen) != (1, ETHERTYPE_IPV4, 6, 4):
        return None
    sender = ipaddress.IPv4Address(data[14:18])
    target = ipaddress.IPv4Address(data[24:28])
    if operation in (1, 2) and sender == target:
        if sender.is_unspecified:
            return None
        return Announcement(mac=mac_text(data[8:14]), address=sender)
    return None


def parse_neighbour_advert(packet: pcap.IPPacket, mac: str | None) -> Announcement | None:
    """An unsolicited neighbour advertisement with the override flag (what a new master sends).

    Solicited ones answer a neighbour's question about any address, virtual or not: skipped.
    """
    data = packet.payload
    if packet.protocol != _ICMPV6 or len(data) < 24 or data[0] != _NEIGHBOUR_ADVERTISEMENT:
        return None
    flags = data[4]
    if flags & 0x40 or not flags & 0x20:  # solicited, or not overriding
        return None
    owner = mac
    option = 24
    while option + 8 <= len(data):  # the target link-layer address option, if any
        kind, units = data[option], data[option + 1]
        if units == 0:
            break
        if kind == 2:
            owner = mac_text(data[option + 2 : option + 8])
        option += 8 * units
    if owner is None:
        return None
    return Announcement(mac=owner, address=ipaddress.IPv6Address(data[8:24]))


def _u16(frame: bytes, offset: int) -> int:
    if len(frame) < offset + 2:
        return -1
    value: int = struct.unpack_from("!H", frame, offset)[0]
    return value
