"""VRRP v2 and v3 adverts, read just far enough to watch them (not to run VRRP).

CARP and VRRP share IP protocol 112 and the 224.0.0.18 / ff02::12 groups, so a segment with
both has to be told apart packet by packet (:func:`pycarp.core.wire.check` already refuses
VRRP as CARP). This reader takes the fields the watcher tabulates: router id, priority,
interval and the address list. It stays apart from the daemon's VRRPv3 codec
(:mod:`pycarp.core.vrrpwire`) on purpose: it also reads VRRPv2, and it reads what a broken or
foreign sender puts on the wire (any length past the addresses, any checksum) because the
watcher must tabulate what is there, where the daemon must refuse it.

Layout (RFC 3768 for v2, RFC 9568 for v3)::

    0  version<<4 | type(1)   1  VRID   2  priority   3  count of addresses
    v2: 4 auth type, 5 advert interval (s)      v3: 4-5 rsvd(4 bits) | max advert int (cs)
    6-7 checksum, then the addresses (4 bytes each; v3 over IPv6: 16), v2: 8 bytes auth data
"""

from __future__ import annotations

import dataclasses
import ipaddress

from pycarp.core.constants import IPAddress


class NotVrrp(ValueError):
    """The bytes are not a VRRP advert this reader understands."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class VrrpAdvert:
    version: int
    vrid: int
    priority: int
    interval: float  # seconds (v2: whole seconds; v3: centiseconds / 100)
    addresses: tuple[IPAddress, ...]


def parse(payload: bytes, *, ipv6: bool) -> VrrpAdvert:
    """Decode a VRRP v2/v3 advert; :class:`NotVrrp` for anything else (never another error)."""
    if len(payload) < 8:
        raise NotVrrp(f"{len(payload)} bytes, shorter than a VRRP header")
    version, kind = payload[0] >> 4, payload[0] & 0x0F
    if version not in (2, 3) or kind != 1:
        raise NotVrrp(f"version {version} type {kind}")
    vrid, priority, count = payload[1], payload[2], payload[3]
    if vrid == 0:
        raise NotVrrp("VRID 0")
    width = 16 if ipv6 else 4
    if version == 2:
        if ipv6:
            raise NotVrrp("VRRPv2 is IPv4 only")
        interval = float(payload[5])
        needed = 8 + 4 * count + 8
        if len(payload) != needed:
            raise NotVrrp(f"VRRPv2 with {count} addresses is {needed} bytes, not {len(payload)}")
    else:
        interval = ((payload[4] & 0x0F) << 8 | payload[5]) / 100
        needed = 8 + width * count
        if len(payload) < needed:
            raise NotVrrp(f"VRRPv3 with {count} addresses needs {needed} bytes")
    if interval <= 0:
        raise NotVrrp("advert interval 0")
    kind_of = ipaddress.IPv6Address if ipv6 else ipaddress.IPv4Address
    addresses = tuple(kind_of(payload[8 + width * i : 8 + width * (i + 1)]) for i in range(count))
    return VrrpAdvert(
        version=version, vrid=vrid, priority=priority, interval=interval, addresses=addresses
    )
