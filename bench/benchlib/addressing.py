"""Virtual addresses for many groups, from the documentation ranges only.

IPv4: 198.51.100.100-.249 (the lab's own hosts use .1-.99, the client .250), then
203.0.113.1-.254. IPv6 on the extra segments of :mod:`benchlib.wiring`: ``2001:db8:K::/64``.
"""

from __future__ import annotations

import ipaddress

IPV4_POOL = [ipaddress.IPv4Address("198.51.100.100") + i for i in range(150)] + [
    ipaddress.IPv4Address("203.0.113.1") + i for i in range(254)
]
IPV4_PREFIX_LEN = 24
IPV6_PREFIX_LEN = 64


def ipv4_virtuals(count: int) -> list[str]:
    """``count`` distinct IPv4 addresses (as text, without prefix length)."""
    if count > len(IPV4_POOL):
        raise ValueError(f"at most {len(IPV4_POOL)} IPv4 virtual addresses")
    return [str(address) for address in IPV4_POOL[:count]]


def segment_network(segment: int) -> ipaddress.IPv6Network:
    """The /64 of extra segment ``segment`` (1, 2, ...): 2001:db8:1::/64, ..."""
    return ipaddress.IPv6Network(f"2001:db8:{segment:x}::/64")


def ipv6_virtuals(segment: int, count: int) -> list[str]:
    """``count`` addresses from ``2001:db8:K::100`` upwards (hosts use ``::1``-``::63``)."""
    base = segment_network(segment).network_address + 0x100
    return [str(base + i) for i in range(count)]
