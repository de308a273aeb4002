"""Frames for the watcher tests, built with the lab's crafting helpers (no files)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from pycarp.core.auth import SignatureMode
from pycarp.core.constants import IPAddress
from pycarp.lab import craft
from pycarp.pcap import LINKTYPE_ETHERNET
from pycarp.watch.watcher import Watcher

A = ipaddress.IPv4Address
VIPS: tuple[ipaddress.IPv4Address, ...] = (A("198.51.100.100"), A("198.51.100.101"))
START = 1_800_000_000.0


def host(n: int) -> ipaddress.IPv4Address:
    return A(f"198.51.100.{n}")


def mac(n: int) -> str:
    return f"02:00:00:00:00:{n:02x}"


def carp(
    n: int,
    counter: int,
    *,
    vhid: int = 1,
    advbase: int = 1,
    advskew: int = 0,
    demote: int = 0,
    passphrase: bytes = b"secret",
    addresses: Sequence[IPAddress] = VIPS,
    mode: SignatureMode = SignatureMode.KERNEL,
    ttl: int = 255,
) -> bytes:
    payload = craft.carp_payload(
        vhid=vhid,
        counter=counter,
        passphrase=passphrase,
        addresses=addresses,
        advbase=advbase,
        advskew=advskew,
        demote=demote,
        mode=mode,
    )
    return craft.ethernet(mac(n), craft.ipv4_packet(payload, host(n), ttl=ttl))


def vrrp3(n: int, vrid: int, priority: int, addresses: Sequence[ipaddress.IPv4Address]) -> bytes:
    """A VRRPv3 advert, 100 cs interval (the checksum is not checked by the watcher)."""
    payload = bytes([0x31, vrid, priority, len(addresses), 0, 100, 0, 0])
    payload += b"".join(a.packed for a in addresses)
    return craft.ethernet(mac(n), craft.ipv4_packet(payload, host(n)))


def feed(watcher: Watcher, records: Sequence[tuple[float, bytes]]) -> Watcher:
    for number, (moment, frame) in enumerate(sorted(records), start=1):
        watcher.feed_frame(START + moment, LINKTYPE_ETHERNET, frame, number)
    return watcher


def every(
    n: int, start: float, count: int, interval: float, first_counter: int = 1, **kw: object
) -> list[tuple[float, bytes]]:
    """``count`` adverts of host ``n`` from ``start``, ``interval`` apart, counter incrementing."""
    return [
        (start + i * interval, carp(n, first_counter + i, **kw))  # type: ignore[arg-type]
        for i in range(count)
    ]


CARP6_GROUP = ipaddress.IPv6Address("ff02::12")
ALL_NODES = ipaddress.IPv6Address("ff02::1")


def ipv6_frame(
    n: int,
    payload: bytes,
    *,
    next_header: int,
    destination: ipaddress.IPv6Address = CARP6_GROUP,
    hop_limit: int = 255,
) -> bytes:
    source = ipaddress.IPv6Address(f"2001:db8::{n}")
    header = bytes([0x60, 0, 0, 0, *len(payload).to_bytes(2, "big"), next_header, hop_limit])
    packet = header + source.packed + destination.packed + payload
    return craft.ethernet(mac(n), packet, ethertype=0x86DD)


def carp6(n: int, counter: int, addresses: Sequence[IPAddress], **kw: object) -> bytes:
    payload = craft.carp_payload(
        vhid=1,
        counter=counter,
        passphrase=b"secret",
        addresses=addresses,
        **kw,  # type: ignore[arg-type]
    )
    return ipv6_frame(n, payload, next_header=112)


def unsolicited_na(n: int, target: ipaddress.IPv6Address, *, solicited: bool = False) -> bytes:
    flags = 0x20 | (0x40 if solicited else 0)
    body = bytes([136, 0, 0, 0, flags, 0, 0, 0]) + target.packed
    body += bytes([2, 1]) + craft.mac_bytes(mac(n))
    return ipv6_frame(n, body, next_header=58, destination=ALL_NODES)


def vrrp2(n: int, vrid: int, priority: int, addresses: Sequence[ipaddress.IPv4Address]) -> bytes:
    """A VRRPv2 advert, 1 s interval, no authentication."""
    payload = bytes([0x21, vrid, priority, len(addresses), 0, 1, 0, 0])
    payload += b"".join(a.packed for a in addresses) + bytes(8)
    return craft.ethernet(mac(n), craft.ipv4_packet(payload, host(n)))
