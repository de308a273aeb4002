"""Many groups on dummy interfaces of one lab host: no peer, so the daemon is master of all.

Dummy interfaces where the kernel has the driver, else ``ifb`` ones (same behaviour here:
NOARP, carrier always on, no DAD, whatever is sent is dropped).

Interface ``pdK`` (K from 0) gets the source address ``203.0.113.(K+1)/24``; its groups have
vhids 1.. and one IPv6 virtual address each, ``2001:db8:(K+1)::(vhid)/64`` (a group's source
family and its virtual addresses' family may differ). 255 groups per interface at most, so
10,000 groups take 40 interfaces of 250.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import pathlib

from pycarp.lab import Lab
from pycarp.lab.daemons import write_config
from pycarp.lab.namespaces import ip_batch

PER_INTERFACE = 255
SOURCE_NETWORK = ipaddress.IPv4Network("203.0.113.0/24")
VIRTUAL_PREFIX_LEN = 64


@dataclasses.dataclass(frozen=True)
class Layout:
    interfaces: int
    per_interface: int
    groups: int

    def interface(self, index: int) -> str:
        return f"pd{index}"

    def source(self, index: int) -> str:
        return str(SOURCE_NETWORK.network_address + index + 1)

    def virtual(self, index: int, vhid: int) -> ipaddress.IPv6Address:
        return ipaddress.IPv6Address(f"2001:db8:{index + 1:x}::{vhid:x}")

    def virtuals(self) -> set[ipaddress.IPv6Address]:
        return {self.virtual(index, vhid) for index, vhid in self.members()}

    def members(self) -> list[tuple[int, int]]:
        """(interface index, vhid) of every group."""
        found: list[tuple[int, int]] = []
        for index in range(self.interfaces):
            count = min(self.per_interface, self.groups - len(found))
            found += [(index, vhid) for vhid in range(1, count + 1)]
        return found


def layout(groups: int) -> Layout:
    """As few interfaces as 255 groups each allows, groups spread evenly over them."""
    if groups < 1:
        raise ValueError("at least one group")
    interfaces = -(-groups // PER_INTERFACE)
    if interfaces > SOURCE_NETWORK.num_addresses - 2:
        raise ValueError(f"at most {PER_INTERFACE * (SOURCE_NETWORK.num_addresses - 2)} groups")
    return Layout(interfaces=interfaces, per_interface=-(-groups // interfaces), groups=groups)


def build(lab: Lab, node: str, plan: Layout) -> str:
    """The interfaces, up, multicast on, each with its IPv4 source; returns their kind."""
    kind = link_kind(lab, node)
    commands: list[str] = []
    for index in range(plan.interfaces):
        name = plan.interface(index)
        commands += [
            f"link add {name} type {kind}",
            f"link set {name} multicast on up",
            f"addr add {plan.source(index)}/{SOURCE_NETWORK.prefixlen} dev {name}",
        ]
    ip_batch(lab.namespace(node), commands)
    return kind


def link_kind(lab: Lab, node: str) -> str:
    """``dummy`` if this kernel can make one (tried in the node's namespace), else ``ifb``."""
    probe = ["ip", "link", "add", "pdprobe", "type", "dummy"]
    if lab.exec(node, probe).returncode != 0:
        return "ifb"
    lab.exec(node, ["ip", "link", "del", "pdprobe"], check=True)
    return "dummy"


def write(plan: Layout, path: pathlib.Path, advbase: int = 1) -> pathlib.Path:
    """The ``--config`` TOML: every group master-able (no peer), passphrase from the env."""
    return write_config(
        path,
        [
            {
                "interface": plan.interface(index),
                "source": plan.source(index),
                "vhid": vhid,
                "pass_env": "PYCARP_PASS",
                "addresses": [f"{plan.virtual(index, vhid)}/{VIRTUAL_PREFIX_LEN}"],
                "advbase": advbase,
            }
            for index, vhid in plan.members()
        ],
    )


def held(lab: Lab, node: str, plan: Layout) -> int:
    """How many of the plan's virtual addresses the node holds, per ``ip -6 -o addr show``."""
    done = lab.exec(node, ["ip", "-6", "-o", "addr", "show"], timeout=60.0, check=True)
    wanted = plan.virtuals()
    found = 0
    for line in done.stdout.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[2] == "inet6":
            address = ipaddress.IPv6Interface(fields[3]).ip
            found += address in wanted
    return found
