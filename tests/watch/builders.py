"""Frames for the watcher tests, built with the lab's crafting helpers (no files)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from pycarp.core.auth import IPAddress, SignatureMode
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
