"""Protocol-112 packets out of a classic pcap file (what ``tcpdump -w`` writes), stdlib only.

Why our own reader: ``pycarp decode --pcap`` is a debugging aid, and the only formats that
matter are the few link types tcpdump produces on Linux (Ethernet, with or without VLAN tags,
"any"-interface cooked captures, raw IP). A dependency such as scapy or dpkt would be far bigger
than these hundred lines. pcapng files are recognised and refused with a conversion hint.

:func:`parse_ip` is also what ``pycarp decode`` uses for a whole IP packet given in hex.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import struct
from collections.abc import Iterator
from typing import BinaryIO

from pycarp.core.constants import CARP_PROTOCOL, IPAddress

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

_ETHERTYPE_IPV4 = 0x0800
_ETHERTYPE_IPV6 = 0x86DD
_ETHERTYPE_VLAN = (0x8100, 0x88A8, 0x9100)

_MAGIC_MICROSECONDS = 0xA1B2C3D4
_MAGIC_NANOSECONDS = 0xA1B23C4D
_PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
_FILE_HEADER_LEN = 24
_RECORD_HEADER_LEN = 16


class PcapError(ValueError):
    """The file (or an IP packet in it) is not something this reader understands."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class IPPacket:
    """What the receive path knows about a packet: IP header facts plus the bytes after it."""

    source: IPAddress
    destination: IPAddress
    ttl: int  # hop limit for IPv6
    protocol: int  # next header for IPv6
    payload: bytes


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class CapturedPacket:
    """One protocol-112 packet of a capture; ``frame`` counts every record from 1, as tshark."""

    frame: int
    timestamp: float
    packet: IPPacket
    link_source: str | None = None  # the Ethernet source MAC (aa:bb:..), None on other links


def parse_ip(data: bytes) -> IPPacket:
    """An IPv4 or IPv6 packet (no IPv6 extension headers), payload trimmed to the IP length."""
    if not data:
        raise PcapError("empty packet")
    version = data[0] >> 4
    if version == 4:
        return _parse_ipv4(data)
    if version == 6:
        return _parse_ipv6(data)
    raise PcapError(f"IP version {version}, expected 4 or 6")


def _parse_ipv4(data: bytes) -> IPPacket:
    header_len = (data[0] & 0x0F) * 4
    if header_len < 20 or len(data) < header_len:
        raise PcapError(f"truncated IPv4 header ({len(data)} bytes, header length {header_len})")
    total_len, ttl, protocol = struct.unpack_from("!2xH4xBB", data)
    if total_len < header_len:
        raise PcapError(f"IPv4 total length {total_len} is shorter than its header")
    return IPPacket(
        source=ipaddress.IPv4Address(data[12:16]),
        destination=ipaddress.IPv4Address(data[16:20]),
        ttl=ttl,
        protocol=protocol,
        payload=bytes(data[header_len:total_len]),  # drops Ethernet padding after the packet
    )


def _parse_ipv6(data: bytes) -> IPPacket:
    if len(data) < 40:
        raise PcapError(f"truncated IPv6 header ({len(data)} bytes)")
    payload_len, next_header, hop_limit = struct.unpack_from("!4xHBB", data)
    return IPPacket(
        source=ipaddress.IPv6Address(data[8:24]),
        destination=ipaddress.IPv6Address(data[24:40]),
        ttl=hop_limit,
        protocol=next_header,
        payload=bytes(data[40 : 40 + payload_len]),
    )


def _network_layer(linktype: int, frame: bytes) -> bytes | None:
    """The IP packet inside a link-layer frame, or None for anything that is not IP."""
    if linktype == LINKTYPE_ETHERNET:
        offset, ethertype = 14, _u16(frame, 12)
        while ethertype in _ETHERTYPE_VLAN:
            ethertype = _u16(frame, offset + 2)
            offset += 4
    elif linktype == LINKTYPE_LINUX_SLL:
        offset, ethertype = 16, _u16(frame, 14)
    elif linktype == LINKTYPE_LINUX_SLL2:
        offset, ethertype = 20, _u16(frame, 0)
    elif linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        return frame
    else:
        raise PcapError(
            f"link type {linktype} is not supported "
            "(Ethernet, Linux cooked v1/v2 and raw IP are; capture with -i <interface>)"
        )
    if ethertype not in (_ETHERTYPE_IPV4, _ETHERTYPE_IPV6):
        return None
    return frame[offset:]


def _u16(frame: bytes, offset: int) -> int:
    """A big-endian 16-bit field; -1 if the frame is too short to have it."""
    if len(frame) < offset + 2:
        return -1
    value: int = struct.unpack_from("!H", frame, offset)[0]
    return value


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One record of a capture as stored: link type, frame number (from 1), time, frame bytes."""

    linktype: int
    frame: int
    timestamp: float
    data: bytes


def read_records(stream: BinaryIO) -> Iterator[Record]:
    """Every record of a classic pcap file, in file order (``pycarp watch`` needs ARP too).

    A file that is not a classic pcap, or ends in the middle of a record, raises
    :class:`PcapError` (after the complete records before that point have been yielded).
    """
    header = stream.read(_FILE_HEADER_LEN)
    if header[:4] == _PCAPNG_MAGIC:
        raise PcapError(
            "this is a pcapng file; convert it first: editcap -F pcap IN OUT "
            "(or capture with tcpdump -w, which writes classic pcap)"
        )
    if len(header) < _FILE_HEADER_LEN:
        raise PcapError(f"not a pcap file: {len(header)} bytes, shorter than a pcap header")
    endian, scale = _byte_order(header[:4])
    linktype = struct.unpack_from(f"{endian}I", header, 20)[0] & 0x0FFFFFFF
    record = struct.Struct(f"{endian}IIII")
    frame_number = 0
    while record_header := stream.read(_RECORD_HEADER_LEN):
        frame_number += 1
        if len(record_header) < _RECORD_HEADER_LEN:
            raise PcapError(f"file ends inside the header of record {frame_number}")
        seconds, fraction, captured_len, _original_len = record.unpack(record_header)
        frame = stream.read(captured_len)
        if len(frame) < captured_len:
            raise PcapError(f"file ends inside record {frame_number}")
        yield Record(
            linktype=linktype, frame=frame_number, timestamp=seconds + fraction / scale, data=frame
        )


def read_packets(stream: BinaryIO, protocol: int = CARP_PROTOCOL) -> Iterator[CapturedPacket]:
    """Yield every IPv4/IPv6 packet carrying ``protocol`` (112: CARP and VRRP), in file order.

    Frames that are not IP, and IP packets of other protocols, are skipped silently; a file
    that is not a classic pcap, or ends in the middle of a record, raises :class:`PcapError`.
    """
    for record in read_records(stream):
        network = _network_layer(record.linktype, record.data)
        if network is None:
            continue
        ethernet = record.linktype == LINKTYPE_ETHERNET
        link_source = record.data[6:12].hex(":") if ethernet else None
        try:
            packet = parse_ip(network)
        except PcapError:
            continue  # a mangled non-CARP packet is not our business
        if packet.protocol == protocol:
            yield CapturedPacket(
                frame=record.frame,
                timestamp=record.timestamp,
                packet=packet,
                link_source=link_source,
            )


def _byte_order(magic: bytes) -> tuple[str, float]:
    for endian in ("<", ">"):
        (value,) = struct.unpack(f"{endian}I", magic)
        if value == _MAGIC_MICROSECONDS:
            return endian, 1e6
        if value == _MAGIC_NANOSECONDS:
            return endian, 1e9
    raise PcapError(f"not a pcap file (magic {magic.hex()})")
