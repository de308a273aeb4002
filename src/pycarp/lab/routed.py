"""Two lab hosts in different subnets with a router between them (FreeBSD carp.sh ``unicast_v4``
and ``unicast_v6``): unicast adverts reach the peer only through the router, with TTL 254.

FreeBSD's test lets the jail that holds the bridge route: it has an address in every subnet
and forwards between them on the same segment. Here a third lab host plays that jail:
:func:`route_apart` moves the two CARP hosts out of the lab's subnet into subnets of their own
(203.0.113.0/25 and 203.0.113.128/25; 2001:db8:1::/64 and 2001:db8:2::/64), each with a default
route via the router, and turns the router's forwarding on. The router keeps its lab address
(198.51.100.N, 2001:db8::N), the subnet of the virtual addresses, as FreeBSD's bridge jail
keeps 192.0.2.4.

What keeps the path honest: the switch drops every frame between the two hosts' ports (they
share the segment, but not a link: all they exchange crosses the router), and it drops CARP's
multicast groups too (nothing may arrive but by the router); the router sends no ICMP redirects
and the hosts accept none, so no shortcut is ever learnt. Everything lives in the lab's
namespaces and goes with them.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import typing

from pycarp.lab.naming import HOST_INTERFACE

if typing.TYPE_CHECKING:  # for typing only: lab.py does not import this module
    from pycarp.lab.lab import Lab

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

# The left host, the right host, the router's address on each side. The right host's IPv4
# address ends in .224 (FreeBSD PR 284872: a peer ending in .224 was taken for multicast).
LEFT_V4, RIGHT_V4 = (
    ipaddress.ip_interface("203.0.113.2/25"),
    ipaddress.ip_interface("203.0.113.224/25"),
)
ROUTER_LEFT_V4 = ipaddress.ip_interface("203.0.113.1/25")
ROUTER_RIGHT_V4 = ipaddress.ip_interface("203.0.113.129/25")
LEFT_V6, RIGHT_V6 = (
    ipaddress.ip_interface("2001:db8:1::2/64"),
    ipaddress.ip_interface("2001:db8:2::2/64"),
)
ROUTER_LEFT_V6 = ipaddress.ip_interface("2001:db8:1::1/64")
ROUTER_RIGHT_V6 = ipaddress.ip_interface("2001:db8:2::1/64")

SWITCH_TABLE = "routed_apart"


@dataclasses.dataclass(frozen=True, slots=True)
class RoutedPair:
    """Who is where once :func:`route_apart` has run."""

    router: str
    left: str
    right: str

    def address(self, node: str, version: int) -> IPInterface:
        """The node's own address (``version`` 4 or 6) in its routed subnet."""
        table = {
            (self.left, 4): LEFT_V4,
            (self.right, 4): RIGHT_V4,
            (self.left, 6): LEFT_V6,
            (self.right, 6): RIGHT_V6,
        }
        return table[(node, version)]

    def peer_of(self, node: str, version: int) -> IPInterface:
        return self.address(self.right if node == self.left else self.left, version)


def route_apart(lab: Lab, router: str, left: str, right: str) -> RoutedPair:
    """Put ``left`` and ``right`` in subnets of their own, routed through ``router``."""
    pair = RoutedPair(router=router, left=left, right=right)
    _sysctls(lab, router, {"net/ipv4/ip_forward": "1", "net/ipv6/conf/all/forwarding": "1"})
    _sysctls(
        lab,
        router,
        {
            "net/ipv4/conf/all/send_redirects": "0",
            f"net/ipv4/conf/{HOST_INTERFACE}/send_redirects": "0",
        },
    )
    lab.exec(
        router,
        ["ip", "-batch", "-"],
        check=True,
        stdin="".join(
            f"addr add {a} dev {HOST_INTERFACE} nodad\n"
            if a.version == 6
            else f"addr add {a} dev {HOST_INTERFACE}\n"
            for a in (ROUTER_LEFT_V4, ROUTER_RIGHT_V4, ROUTER_LEFT_V6, ROUTER_RIGHT_V6)
        ),
    )
    for node, v4, v6, gateway4, gateway6 in (
        (left, LEFT_V4, LEFT_V6, ROUTER_LEFT_V4, ROUTER_LEFT_V6),
        (right, RIGHT_V4, RIGHT_V6, ROUTER_RIGHT_V4, ROUTER_RIGHT_V6),
    ):
        _sysctls(lab, node, _NO_REDIRECTS)
        commands = [
            f"addr del {lab.ipv4(node)} dev {HOST_INTERFACE}",
            f"addr del {lab.ipv6(node)} dev {HOST_INTERFACE}",
            f"addr add {v4} dev {HOST_INTERFACE}",
            f"addr add {v6} dev {HOST_INTERFACE} nodad",
            f"route add default via {gateway4.ip}",
            f"route add default via {gateway6.ip}",
        ]
        lab.exec(node, ["ip", "-batch", "-"], check=True, stdin="\n".join(commands) + "\n")
    lab.exec("sw", ["nft", "-f", "-"], check=True, stdin=_switch_rules(left, right))
    return pair


_NO_REDIRECTS = {
    "net/ipv4/conf/all/accept_redirects": "0",
    f"net/ipv4/conf/{HOST_INTERFACE}/accept_redirects": "0",
    "net/ipv6/conf/all/accept_redirects": "0",
    f"net/ipv6/conf/{HOST_INTERFACE}/accept_redirects": "0",
}


def _sysctls(lab: Lab, node: str, values: dict[str, str]) -> None:
    with lab.inside(node):
        for key, value in values.items():
            with open(f"/proc/sys/{key}", "w", encoding="ascii") as handle:
                handle.write(value)


def _switch_rules(left: str, right: str) -> str:
    """No frame between the two hosts' ports, no CARP multicast at all (counted)."""
    return f"""table bridge {SWITCH_TABLE} {{
    chain forward {{
        type filter hook forward priority -20; policy accept;
        iifname "{left}" oifname "{right}" counter drop
        iifname "{right}" oifname "{left}" counter drop
        ip daddr 224.0.0.18 counter drop
        ip6 daddr ff02::12 counter drop
    }}
}}
"""


def switch_drops(lab: Lab) -> dict[str, int]:
    """How many frames the switch dropped: between the hosts, and CARP multicast."""
    listing = lab.exec("sw", ["nft", "list", "table", "bridge", SWITCH_TABLE], check=True).stdout
    counts = [
        int(line.split("counter packets ")[1].split()[0])
        for line in listing.splitlines()
        if "counter packets" in line
    ]
    return {"between_hosts": counts[0] + counts[1], "multicast": counts[2] + counts[3]}
