"""Wiring: one switch namespace with a bridge, each node joined to it by a veth pair.

Every interface is created directly inside its namespace (``ip -n NS link add ... peer ...
netns SWITCH``), so nothing ever appears in the root namespace, not even for a moment.
"""

from __future__ import annotations

from pycarp.lab import namespaces
from pycarp.lab.naming import BRIDGE, HOST_INTERFACE, LabNames, ipv4_of, ipv6_of, mac_of

# Hosts should look like quiet servers: no DAD delay (addresses usable at once, also the ones
# pycarp adds), no router solicitations cluttering captures.
_HOST_SYSCTLS = {
    "net/ipv6/conf/default/accept_dad": "0",
    "net/ipv6/conf/all/accept_dad": "0",
    "net/ipv6/conf/default/router_solicitations": "0",
    "net/ipv6/conf/default/accept_ra": "0",
}
# The switch is a layer-2 device only: no IPv6 on its ports, so it never talks itself.
_SWITCH_SYSCTLS = {
    "net/ipv6/conf/default/disable_ipv6": "1",
    "net/ipv6/conf/all/disable_ipv6": "1",
}


def _write_sysctls(namespace: str, values: dict[str, str]) -> None:
    with namespaces.inside(namespace):
        for key, value in values.items():
            with open(f"/proc/sys/{key}", "w", encoding="ascii") as handle:
                handle.write(value)


def build_switch(names: LabNames) -> None:
    """The bridge: STP off and forward delay 0 (ports forward at once), snooping off so
    multicast (224.0.0.18, ff02::12) is flooded to every port like on a dumb switch."""
    if namespaces.exists(names.switch) and BRIDGE in _links(names.switch):
        return
    namespaces.add_namespaces([names.switch])
    _write_sysctls(names.switch, _SWITCH_SYSCTLS)
    namespaces.ip_batch(
        names.switch,
        [
            "link set lo up",
            f"link add {BRIDGE} type bridge stp_state 0 forward_delay 0 mcast_snooping 0",
            f"link set {BRIDGE} up",
        ],
    )


def build_node(names: LabNames, node: str) -> None:
    """A host (or the client): namespace, lo up, ``eth0`` wired to switch port ``node``."""
    namespace = names.namespace(node)
    if namespaces.exists(namespace) and HOST_INTERFACE in _links(namespace):
        return
    namespaces.add_namespaces([namespace])
    _write_sysctls(namespace, _HOST_SYSCTLS)
    namespaces.ip_batch(
        namespace,
        [
            "link set lo up",
            f"link add {HOST_INTERFACE} address {mac_of(node)} type veth"
            f" peer name {node} netns {names.switch}",
            f"link set {HOST_INTERFACE} up",
            f"addr add {ipv4_of(node)} dev {HOST_INTERFACE}",
            f"addr add {ipv6_of(node)} dev {HOST_INTERFACE} nodad",
        ],
    )
    namespaces.ip_batch(names.switch, [f"link set {node} master {BRIDGE}", f"link set {node} up"])


def _links(namespace: str) -> set[str]:
    done = namespaces.run(["ip", "-n", namespace, "-o", "link", "show"])
    names: set[str] = set()
    for line in done.stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            names.add(parts[1].strip().partition("@")[0])
    return names
