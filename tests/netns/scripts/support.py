"""Helpers for the daemon acceptance tests (``tests/netns/test_daemon_*.py``).

They start real ``python -m pycarp`` processes on lab hosts (through :mod:`pycarp.lab.daemons`)
and answer the questions every scenario asks: who is master according to the daemons' own
logs, who holds an address according to the kernel, where a client's ARP entry points, what
the status dump (SIGUSR1) says, and how regular the adverts on the bridge are.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import itertools
import json
import pathlib
import re
import signal
import stat
import time
import typing
from collections.abc import Mapping, Sequence

from pycarp.lab import Lab, LabError
from pycarp.lab.capture import Advert
from pycarp.lab.daemons import LAB_PASSPHRASE, Daemon, pycarp_args, start_pycarp, wait_for
from pycarp.lab.programs import check_status

VIPS = ("198.51.100.100/24", "198.51.100.101/24")
DUAL_STACK = ("198.51.100.100/24", "2001:db8::100/64")
SKEWS = (0, 100, 200)
ADVBASE = 1.0
DEAD_RATIO = 3

# How long to wait for things that should happen "within a master-down interval": the interval
# itself plus a generous margin for a loaded 2-core machine.
ELECTION_TIMEOUT = 10.0

_STARTED_LINE = re.compile(r"^\S+ INFO +\d+@\S+: started \(", re.MULTILINE)
_STATUS_LINE = re.compile(
    r"(\d+)@(\S+): (INIT|BACKUP|MASTER) \(advbase .*?; adverts sent (\d+).*drops: (.*)$",
    re.MULTILINE,
)
_ARPING_SUMMARY = re.compile(r"(\d+) packets transmitted, (\d+) packets received")
_ARPING_REPLY = re.compile(r"bytes from ([0-9a-f:]{17}) \(")


def master_down(advskew: int, advbase: float = ADVBASE) -> float:
    """The master-down interval of a backup with this advskew (what the kernels compute)."""
    return DEAD_RATIO * advbase + advskew / 256


def advert_interval(advskew: int, advbase: float = ADVBASE) -> float:
    return advbase + advskew / 256


def start_group(
    lab: Lab,
    workdir: pathlib.Path,
    *,
    skews: Mapping[str, int] | None = None,
    addresses: Sequence[str] = VIPS,
    vhid: int = 1,
    extra: Mapping[str, Sequence[str]] | None = None,
    passphrase: str = LAB_PASSPHRASE,
    staggered: bool = True,
) -> dict[str, Daemon]:
    """pycarp with ucarp-style flags on each host of ``skews`` (default h1..h3: 0/100/200).

    ``staggered``: each daemon has started before the next one is launched, so the first
    host (the best advskew) is master for sure. Launched together, a slow interpreter start
    on a loaded machine can give a worse host the head start, and without preemption it
    stays master, correctly, but not the one the test expects.
    """
    chosen = skews if skews is not None else dict(zip(lab.hosts, SKEWS, strict=False))
    daemons = {}
    for node, skew in chosen.items():
        args = pycarp_args(
            lab,
            node,
            vhid=vhid,
            addresses=addresses,
            advskew=skew,
            extra=(extra or {}).get(node, ()),
        )
        daemons[node] = start_pycarp(lab, node, args, workdir=workdir, passphrase=passphrase)
        if staggered:
            wait_started(daemons[node])
    return daemons


def wait_started(daemon: Daemon, *, groups: int = 1, timeout: float = 15.0) -> Daemon:
    """Block until pycarp logged that its ``groups`` groups started (listening then)."""

    def all_started() -> bool:
        assert daemon.alive(), f"pycarp on {daemon.node} died:\n{daemon.log()[-2000:]}"
        return len(_STARTED_LINE.findall(daemon.log())) >= groups

    wait_for(all_started, timeout)
    return daemon


def state_of(daemon: Daemon, vhid: int = 1) -> str:
    """The state the daemon last logged for ``vhid`` (INIT before the first change)."""
    changes = [
        new for changed_vhid, _old, new, _why in daemon.state_changes() if changed_vhid == vhid
    ]
    return changes[-1] if changes else "INIT"


def changes_of(daemon: Daemon, vhid: int = 1) -> list[tuple[str, str, str]]:
    """(old, new, reason) of every state change of ``vhid`` the daemon logged."""
    return [(old, new, why) for v, old, new, why in daemon.state_changes() if v == vhid]


def masters(daemons: Mapping[str, Daemon], vhid: int = 1) -> list[str]:
    return sorted(node for node, daemon in daemons.items() if state_of(daemon, vhid) == "MASTER")


def wait_for_state(daemon: Daemon, state: str, *, vhid: int = 1, timeout: float) -> float:
    """Seconds until the daemon logs ``state`` for ``vhid`` (fails if the process died)."""

    def reached() -> bool:
        assert daemon.alive(), f"pycarp on {daemon.node} died:\n{daemon.log()[-2000:]}"
        return state_of(daemon, vhid) == state

    return wait_for(reached, timeout)


def wait_for_stable_master(
    daemons: Mapping[str, Daemon], node: str, *, vhid: int = 1, timeout: float = ELECTION_TIMEOUT
) -> None:
    """``node`` is master and every other daemon of the group has settled in BACKUP."""
    wait_for_state(daemons[node], "MASTER", vhid=vhid, timeout=timeout)
    for other, daemon in daemons.items():
        if other != node:
            wait_for_state(daemon, "BACKUP", vhid=vhid, timeout=timeout)


def holders(lab: Lab, address: str, nodes: Sequence[str] | None = None) -> list[str]:
    """The hosts whose eth0 carries ``address`` (``IP`` or ``IP/LEN``), per the kernel."""
    wanted = ipaddress.ip_interface(address).ip
    return [
        node
        for node in (nodes if nodes is not None else lab.hosts)
        if any(held.ip == wanted for held in lab.virtual_addresses(node))
    ]


def held_ips(lab: Lab, node: str) -> set[str]:
    return {str(address.ip) for address in lab.virtual_addresses(node)}


def ips(addresses: Sequence[str]) -> set[str]:
    return {str(ipaddress.ip_interface(address).ip) for address in addresses}


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


@dataclasses.dataclass(frozen=True)
class GroupStatus:
    """One status line of a SIGUSR1 dump."""

    vhid: int
    state: str
    adverts_sent: int
    drops: dict[str, int]


def request_status(daemon: Daemon, *, timeout: float = 5.0) -> dict[int, GroupStatus]:
    """Send SIGUSR1 and parse the per-group status lines it logs (by vhid)."""
    before = len(_STATUS_LINE.findall(daemon.log()))
    daemon.signal(signal.SIGUSR1)
    wait_for(lambda: len(_STATUS_LINE.findall(daemon.log())) > before, timeout)
    time.sleep(0.1)  # the remaining lines of the same dump are written in the same loop turn
    found: dict[int, GroupStatus] = {}
    for match in list(_STATUS_LINE.finditer(daemon.log()))[before:]:
        drops = {
            key: int(value)
            for key, _, value in (item.partition("=") for item in match.group(5).split(", "))
            if value
        }
        vhid = int(match.group(1))
        found[vhid] = GroupStatus(vhid, match.group(3), int(match.group(4)), drops)
    return found


def advert_times(
    adverts: Sequence[Advert], source: str, vhid: int, *, start: float = 0.0, end: float = 1e12
) -> list[float]:
    """Bridge timestamps of ``source``'s regular adverts for ``vhid`` in [start, end]."""
    return [
        a.timestamp
        for a in adverts
        if a.source == source
        and a.advert.vhid == vhid
        and start <= a.timestamp <= end
        and not (a.advert.advbase == 255 and a.advert.advskew == 255)
    ]


def spacing_deviation(times: Sequence[float], expected: float) -> float:
    """The largest |gap - expected| between consecutive adverts (the jitter bound checked)."""
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert gaps, "need at least two adverts to measure their spacing"
    return max(abs(gap - expected) for gap in gaps)


def write_script(path: pathlib.Path, body: str) -> pathlib.Path:
    """An executable ``/bin/sh`` script (what an operator would give ucarp)."""
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def recording_script(path: pathlib.Path, record: pathlib.Path, *, then: str = "") -> pathlib.Path:
    """A script that appends one JSON line (argv + PYCARP_* environment) to ``record``.

    ``then`` is more shell to run afterwards (e.g. the ``ip addr add`` of a ucarp up script).
    """
    return write_script(
        path,
        f'python3 -c \'import json, os, sys; print(json.dumps({{"argv": sys.argv[1:], "env": '
        f'{{k: v for k, v in os.environ.items() if k.startswith("PYCARP_")}}}}))\' "$@" '
        f">> {record}\n{then}",
    )


def read_records(record: pathlib.Path) -> list[dict[str, typing.Any]]:
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line.strip()]
