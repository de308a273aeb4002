"""Crafted traffic as a capture file: what the lab cannot make a real implementation send.

``pycarp watch`` is shown by captures of each situation. Most come from real daemons on the
lab's bridge; a few need a sender the lab does not have (an OpenBSD master advertising its
demote count, an advert that crossed a router with TTL 254). These are built here, byte by
byte with the core's codecs, and written as classic pcap (Ethernet link type) so that the
same reader takes both kinds.
"""

from __future__ import annotations

import ipaddress
import pathlib
import struct
from collections.abc import Iterable, Sequence

from pycarp.core import wire
from pycarp.core.auth import SignatureMode, compute_digest
from pycarp.core.constants import CARP_GROUP_V4, CARP_PROTOCOL, IPAddress
from pycarp.lab.forge import TOS, ip_header_checksum

_GROUP_MAC = bytes.fromhex("01005e000012")
_BROADCAST = b"\xff" * 6


def mac_bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def carp_payload(
    *,
    vhid: int,
    counter: int,
    passphrase: bytes,
    addresses: Sequence[IPAddress],
    advbase: int = 1,
    advskew: int = 0,
    demote: int = 0,
    mode: SignatureMode = SignatureMode.KERNEL,
) -> bytes:
    """A signed advert (``passphrase`` is used as given: truncate it first if a test means to)."""
    counter_bytes = counter.to_bytes(8, "big")
    digest = compute_digest(passphrase, vhid, addresses, counter_bytes, mode)
    advert = wire.Advertisement(
        vhid=vhid, advbase=advbase, advskew=advskew, counter=counter, digest=digest, demote=demote
    )
    return wire.encode(advert)


def ipv4_packet(
    payload: bytes,
    source: ipaddress.IPv4Address,
    *,
    ttl: int = 255,
    protocol: int = CARP_PROTOCOL,
    destination: ipaddress.IPv4Address = CARP_GROUP_V4,
) -> bytes:
    header = bytes([0x45, TOS, *(20 + len(payload)).to_bytes(2, "big"), 0, 0, 0x40, 0])
    header += bytes([ttl, protocol])
    return ip_header_checksum(header + bytes(2) + source.packed + destination.packed + payload)


def ethernet(source_mac: str, packet: bytes, *, ethertype: int = 0x0800) -> bytes:
    destination = _GROUP_MAC if ethertype == 0x0800 else _BROADCAST
    return destination + mac_bytes(source_mac) + ethertype.to_bytes(2, "big") + packet


def gratuitous_arp(mac: str, address: ipaddress.IPv4Address) -> bytes:
    """A gratuitous ARP request (sender = target address), as a new master sends one."""
    body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1)
    body += mac_bytes(mac) + address.packed + bytes(6) + address.packed
    return ethernet(mac, body, ethertype=0x0806)


def write_pcap(path: pathlib.Path, records: Iterable[tuple[float, bytes]]) -> None:
    """Classic pcap, microsecond timestamps, Ethernet link type."""
    chunks = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for moment, frame in records:
        seconds = int(moment)
        micros = round((moment - seconds) * 1e6)
        chunks.append(struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(chunks))
