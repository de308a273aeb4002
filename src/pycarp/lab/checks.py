"""What every user of the lab asks of a CARP group: who is master, who holds an address, wait
for a state, does the address answer (ping, arping), what does a daemon's status say.

One implementation for the netns and interop tests, the demo and the benchmarks: before it,
each had its own, and each parsed pycarp's log with its own regex, so a reworded log line
broke them one by one. Here a daemon's state comes from its ``state_changed`` events (ucarp's
from its log: :meth:`Daemon.states`), its counters from its status document, and who holds an
address from the kernel of each host, as an operator would check.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
import typing
from collections.abc import Mapping, Sequence

from pycarp.lab.daemons import Daemon, wait_for
from pycarp.lab.naming import LabError
from pycarp.lab.programs import check_status

if typing.TYPE_CHECKING:
    from pycarp.lab.lab import Lab

_ARPING_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) packets received")
_ARPING_REPLY = re.compile(r"bytes from ([0-9a-f:]{17}) \(")

# -- states, from the daemons ------------------------------------------------------------------


def history(daemon: Daemon, vhid: int | None = None) -> list[str]:
    """Every state the daemon entered (for ``vhid`` only, if given; ucarp has one group)."""
    if vhid is None or daemon.kind != "pycarp":
        return daemon.states()
    return [new for changed, _old, new, _why in daemon.state_changes() if changed == vhid]


def last_state(daemon: Daemon, vhid: int | None = None) -> str | None:
    """The state the daemon last entered (None before its first state change)."""
    found = history(daemon, vhid)
    return found[-1] if found else None


def changes_of(daemon: Daemon, vhid: int = 1) -> list[tuple[str, str, str]]:
    """(old, new, reason) of every state change of ``vhid`` (pycarp's events)."""
    return [(old, new, why) for v, old, new, why in daemon.state_changes() if v == vhid]


def masters(daemons: Mapping[str, Daemon], vhid: int | None = None) -> list[str]:
    """The nodes whose daemon last said MASTER (for ``vhid``), sorted."""
    return sorted(node for node, d in daemons.items() if last_state(d, vhid) == "MASTER")


def wait_for_state(
    daemon: Daemon, state: str, *, vhid: int | None = None, timeout: float, poll: float = 0.01
) -> float:
    """Seconds until the daemon's last state (for ``vhid``) is ``state``.

    LabError after ``timeout``, or as soon as the process has died, with its state history
    and log tail: the reason a test fails should be in its failure message.
    """

    def reached() -> bool:
        if not daemon.alive():
            raise LabError(f"{_who(daemon)} exited ({daemon.process.returncode}):\n{_tail(daemon)}")
        return last_state(daemon, vhid) == state

    try:
        return wait_for(reached, timeout, poll)
    except LabError as error:
        if not daemon.alive():
            raise
        raise LabError(
            f"{_who(daemon)} not {state} within {timeout:g} s (states "
            f"{history(daemon, vhid)}):\n{_tail(daemon)}"
        ) from error


def wait_started(daemon: Daemon, *, groups: int = 1, timeout: float = 15.0) -> Daemon:
    """Block until pycarp's ``groups`` groups have started (they listen then)."""

    def all_started() -> bool:
        if not daemon.alive():
            raise LabError(f"{_who(daemon)} exited ({daemon.process.returncode}):\n{_tail(daemon)}")
        return len(daemon.started_groups()) >= groups

    wait_for(all_started, timeout)
    return daemon


def wait_for_stable_master(
    daemons: Mapping[str, Daemon], node: str, *, vhid: int = 1, timeout: float
) -> None:
    """``node`` is master and every other daemon of the group has settled in BACKUP."""
    wait_for_state(daemons[node], "MASTER", vhid=vhid, timeout=timeout)
    for other, daemon in daemons.items():
        if other != node:
            wait_for_state(daemon, "BACKUP", vhid=vhid, timeout=timeout)


def _who(daemon: Daemon) -> str:
    return f"{daemon.kind} on {daemon.node}"


def _tail(daemon: Daemon) -> str:
    return daemon.log()[-2000:]


# -- counters, from pycarp's status document -------------------------------------------------


@dataclasses.dataclass(frozen=True)
class GroupStatus:
    """What the tests read of one group in a status document (docs/control.md)."""

    vhid: int
    state: str
    adverts_sent: int
    drops: dict[str, int]  # only the reasons that counted something
    master: str | None  # the address of the master last heard (None: none known)
    advskew_on_wire: int


def group_statuses(document: Mapping[str, typing.Any]) -> dict[int, GroupStatus]:
    """The document's groups by vhid (the lab's daemons never reuse a vhid across interfaces)."""
    found = {}
    for group in document["groups"]:
        master = group["master"]
        found[group["vhid"]] = GroupStatus(
            vhid=group["vhid"],
            state=group["state"],
            adverts_sent=group["adverts_sent"],
            drops={reason: count for reason, count in group["drops"].items() if count},
            master=None if master is None else master["address"],
            advskew_on_wire=group["advskew_on_wire"],
        )
    return found


def status_of(daemon: Daemon) -> dict[int, GroupStatus]:
    """The daemon's groups as its control socket reports them now."""
    return group_statuses(daemon.status())


# -- addresses, from the kernels ---------------------------------------------------------------


def holders(lab: Lab, address: str, nodes: Sequence[str] | None = None) -> list[str]:
    """The nodes (all hosts by default) whose eth0 carries ``address`` (``IP`` or ``IP/LEN``),
    in the order given, per their kernels."""
    wanted = ipaddress.ip_interface(address).ip
    return [
        node
        for node in (lab.hosts if nodes is None else nodes)
        if any(found.ip == wanted for found in lab.addresses(node))
    ]


def holds(lab: Lab, node: str, address: str) -> bool:
    return holders(lab, address, [node]) == [node]


def held_ips(lab: Lab, node: str) -> set[str]:
    """The virtual addresses on the node's eth0 (its own left out)."""
    return {str(address.ip) for address in lab.virtual_addresses(node)}


def ips(addresses: Sequence[str]) -> set[str]:
    return {str(ipaddress.ip_interface(address).ip) for address in addresses}


def wait_holders(
    lab: Lab,
    expected: Sequence[str],
    timeout: float,
    address: str,
    *,
    nodes: Sequence[str] | None = None,
    poll: float = 0.1,
) -> float:
    """Block until exactly ``expected`` hold ``address``; the seconds it took."""
    try:
        return wait_for(lambda: holders(lab, address, nodes) == list(expected), timeout, poll)
    except LabError:
        raise LabError(
            f"{address} held by {holders(lab, address, nodes)} after {timeout:g} s, "
            f"expected {list(expected)}"
        ) from None


# -- reachability, from a client ---------------------------------------------------------------


def ping(lab: Lab, node: str, address: str, *, count: int = 1) -> bool:
    """Bounded: ``count`` echo requests 0.2 s apart, one second for the last reply.

    False: no reply (status 1); ping failing to run at all (status 2) raises LabError.
    """
    ip = ipaddress.ip_interface(address).ip
    family = "-6" if ip.version == 6 else "-4"
    argv = ["ping", family, "-n", "-q", "-c", str(count), "-i", "0.2", "-W", "1", str(ip)]
    return check_status(lab.exec(node, argv, timeout=10), (0, 1)).returncode == 0


def neighbour_mac(lab: Lab, node: str, address: str) -> str | None:
    """The link-layer address ``node``'s neighbour table holds for ``address`` (None: none)."""
    ip = str(ipaddress.ip_interface(address).ip)
    done = check_status(
        lab.exec(node, ["ip", "-j", "neigh", "show", "to", ip, "dev", lab.interface])
    )
    for entry in json.loads(done.stdout or "[]"):
        if entry.get("dst") == ip and "lladdr" in entry:
            return str(entry["lladdr"])
    return None


def arping_macs(lab: Lab, node: str, address: str) -> list[str]:
    """MACs that answer one ARP request for ``address`` from ``node`` (duplicates show up).

    Empty only when arping ran and nobody answered. arping (Thomas Habets', Debian package
    ``arping``) exits with 1 both for "no reply" and for an error, so its summary line tells
    them apart: no summary, or a reply count that the reply lines do not match, is a LabError.
    """
    ip = str(ipaddress.ip_interface(address).ip)
    done = lab.exec(node, ["arping", "-c", "1", "-w", "1", "-I", lab.interface, ip], timeout=10)
    summary = _ARPING_SUMMARY.search(done.stdout)
    if summary is None:
        said = (done.stderr or done.stdout).strip()
        raise LabError(
            f"arping on {node} printed no summary (exit {done.returncode}): {said!r} (the tests "
            "need Thomas Habets' arping, Debian package arping, not iputils-arping)"
        )
    macs = _ARPING_REPLY.findall(done.stdout)
    if len(macs) != int(summary.group(2)):
        raise LabError(f"arping counted {summary.group(2)} replies, printed:\n{done.stdout}")
    return macs
