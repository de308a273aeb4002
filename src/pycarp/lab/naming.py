"""Lab names and the addressing plan: everything a lab is can be read back from its names.

A lab called ``NAME`` owns the namespaces ``pcl-NAME-sw`` (the switch), ``pcl-NAME-h1`` …
``pcl-NAME-hN`` (hosts) and optionally ``pcl-NAME-client``. Nothing else records state, so
``pycarp lab up`` / ``down`` are idempotent and a crashed run can be found and removed later.

Labs made by a program are named ``<pid>x<seq>``: the owner's PID is in the name, so a later run
can tell a crashed run's leftovers (owner gone) from a lab another process is still using.
Labs made by ``pycarp lab up`` get a user-chosen name that starts with a letter and have no
owner: only ``pycarp lab down`` removes them.

Interface names never carry the prefix (they live inside the namespaces), so the 15-character
limit only applies to the fixed names below.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re

LAB_PREFIX = "pcl-"
SWITCH = "sw"
CLIENT = "client"
BRIDGE = "br0"
HOST_INTERFACE = "eth0"
MAX_HOSTS = 99  # hosts use .1-.99; .100-.249 stay free for virtual addresses

IPV4_NETWORK = ipaddress.IPv4Network("198.51.100.0/24")
IPV6_NETWORK = ipaddress.IPv6Network("2001:db8::/64")
CLIENT_INDEX = 250

_HOST_ROLE = re.compile(r"h([1-9][0-9]?)")
_OWNED_NAME = re.compile(r"([0-9]+)x[0-9]+")
_USER_NAME = re.compile(r"[a-z][a-z0-9]{0,15}")


class LabError(RuntimeError):
    """A lab operation failed; the message says which command and why."""


def host_name(index: int) -> str:
    """``h1`` … ``h99``: the name a host has in the API, the CLI and as its switch port."""
    if not 1 <= index <= MAX_HOSTS:
        raise LabError(f"host index {index} out of range 1..{MAX_HOSTS}")
    return f"h{index}"


def host_index(node: str) -> int:
    """The number behind a node name; the client is 250 (its address is .250)."""
    if node == CLIENT:
        return CLIENT_INDEX
    match = _HOST_ROLE.fullmatch(node)
    if match is None:
        raise LabError(f"unknown lab node {node!r}: expected h1..h{MAX_HOSTS} or {CLIENT!r}")
    return int(match.group(1))


def is_node_role(role: str) -> bool:
    return role == CLIENT or _HOST_ROLE.fullmatch(role) is not None


def ipv4_of(node: str) -> ipaddress.IPv4Interface:
    return ipaddress.IPv4Interface((IPV4_NETWORK.network_address + host_index(node), 24))


def ipv6_of(node: str) -> ipaddress.IPv6Interface:
    return ipaddress.IPv6Interface((IPV6_NETWORK.network_address + host_index(node), 64))


def mac_of(node: str) -> str:
    """Locally administered, stable MACs (``02:70:63`` = "pc") so captures are readable."""
    return f"02:70:63:00:00:{host_index(node):02x}"


def owned_name(sequence: int, pid: int | None = None) -> str:
    """The name of a lab owned by process ``pid`` (default: this one)."""
    return f"{os.getpid() if pid is None else pid}x{sequence}"


def owned_prefix(pid: int | None = None) -> str:
    """Namespace prefix shared by every lab the process ``pid`` creates."""
    return f"{LAB_PREFIX}{os.getpid() if pid is None else pid}x"


def owner_pid(name: str) -> int | None:
    """The PID that owns a lab, or None for a user-named (CLI) lab."""
    match = _OWNED_NAME.fullmatch(name)
    return int(match.group(1)) if match else None


def check_user_name(name: str) -> str:
    if _USER_NAME.fullmatch(name) is None:
        raise LabError(
            f"invalid lab name {name!r}: use a lowercase letter then up to 15 letters/digits"
        )
    return name


@dataclasses.dataclass(frozen=True, slots=True)
class LabNames:
    """The namespace names of one lab."""

    name: str

    @property
    def prefix(self) -> str:
        return f"{LAB_PREFIX}{self.name}-"

    @property
    def switch(self) -> str:
        return self.prefix + SWITCH

    def namespace(self, role: str) -> str:
        return self.prefix + role

    def role_of(self, namespace: str) -> str | None:
        """The role (``sw``, ``h1``, ``client``) of one of this lab's namespaces, else None."""
        if not namespace.startswith(self.prefix):
            return None
        role = namespace[len(self.prefix) :]
        return role if role == SWITCH or is_node_role(role) else None


def split_namespace(namespace: str) -> tuple[str, str] | None:
    """``pcl-NAME-ROLE`` -> (NAME, ROLE) for any lab's namespace, else None."""
    if not namespace.startswith(LAB_PREFIX):
        return None
    name, sep, role = namespace[len(LAB_PREFIX) :].rpartition("-")
    if not sep or not name or not (role == SWITCH or is_node_role(role)):
        return None
    return name, role
