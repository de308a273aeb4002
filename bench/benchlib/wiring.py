"""More than one interface per host: extra segments (a bridge each) beside the lab's ``br0``.

The lab gives every host one interface, ``eth0`` on ``br0``. For the 1,000-group run each host
also gets ``eth1``, ``eth2``, ... each on its own bridge ``br1``, ``br2``, ... in the lab's switch
namespace, addressed in IPv6 only (``2001:db8:K::N/64``: the IPv4 documentation ranges are too
small for 1,000 virtual addresses). Everything is created inside the lab's namespaces, so the
lab's teardown removes it with them.
"""

from __future__ import annotations

import ipaddress

from benchlib.addressing import IPV6_PREFIX_LEN, segment_network
from pycarp.lab import Lab
from pycarp.lab.namespaces import ip_batch
from pycarp.lab.naming import host_index


def interface(segment: int) -> str:
    return f"eth{segment}"


def bridge(segment: int) -> str:
    return f"br{segment}"


def port(node: str, segment: int) -> str:
    """The switch-side end of a node's interface on a segment (``h1`` on br0, ``h1s2`` ...)."""
    return node if segment == 0 else f"{node}s{segment}"


def source_address(node: str, segment: int) -> ipaddress.IPv6Address:
    return segment_network(segment).network_address + host_index(node)


def add_segment(lab: Lab, segment: int) -> None:
    """Bridge ``brK`` and an ``ethK`` on every host of the lab, up and addressed."""
    ip_batch(
        lab.switch_namespace,
        [
            f"link add {bridge(segment)} type bridge stp_state 0 forward_delay 0 mcast_snooping 0",
            f"link set {bridge(segment)} up",
        ],
    )
    for node in lab.hosts:
        mac = f"02:70:63:{segment:02x}:00:{host_index(node):02x}"
        ip_batch(
            lab.namespace(node),
            [
                f"link add {interface(segment)} address {mac} type veth"
                f" peer name {port(node, segment)} netns {lab.switch_namespace}",
                f"link set {interface(segment)} up",
                f"addr add {source_address(node, segment)}/{IPV6_PREFIX_LEN}"
                f" dev {interface(segment)} nodad",
            ],
        )
        ip_batch(
            lab.switch_namespace,
            [
                f"link set {port(node, segment)} master {bridge(segment)}",
                f"link set {port(node, segment)} up",
            ],
        )


def unplug(lab: Lab, node: str, segments: int) -> None:
    """Pull every cable of ``node`` (segments 0..segments-1) in one go."""
    ip_batch(
        lab.switch_namespace,
        [f"link set {port(node, segment)} down" for segment in range(segments)],
    )
