"""pycarp and its peers (ucarp, keepalived) started the same way, as master or as backup.

Roles use equal timers everywhere: the master advertises with advskew 0 (VRRP priority 250),
the backup with advskew 100 (VRRP priority 156). A VRRPv3 backup waits ``3 * interval +
(256 - priority) / 256 * interval`` (RFC 5798 section 6.1), so priority 156 gives exactly
CARP's ``3 * advbase + 100/256`` at the same interval: 3.390625 s at 1 s.

keepalived runs in the foreground (``-n``), VRRP only (``-P``), logging to its console
(``-l -D``, captured in the work directory) and not to syslog (``-G``), with its own pid files
per instance, from a configuration written into the work directory.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import shutil
import subprocess

from pycarp.core import timing
from pycarp.lab import HOST_INTERFACE, Lab, LabError
from pycarp.lab.daemons import Daemon, pycarp_args, start_pycarp, start_ucarp

VIRTUAL = "198.51.100.100"
PREFIX_LEN = 24
MASTER_SKEW, BACKUP_SKEW = 0, 100
MASTER_PRIORITY, BACKUP_PRIORITY = 250, 156  # skew time (256 - 156)/256 = 100/256 interval

_KEEPALIVED_STATE = re.compile(r"\(VI_(\d+)\) Entering (MASTER|BACKUP|FAULT) STATE")


@dataclasses.dataclass(frozen=True)
class Peer:
    """One implementation at one advertisement interval."""

    kind: str  # "pycarp", "ucarp" or "keepalived"
    interval: float  # seconds between a master's advertisements

    @property
    def label(self) -> str:
        return f"{self.kind} {self.interval:g} s"

    @property
    def master_down(self) -> float:
        """How long the backup waits after the master's last advertisement (the protocol)."""
        if self.kind == "keepalived":
            return 3 * self.interval + (256 - BACKUP_PRIORITY) / 256 * self.interval
        return timing.master_down_interval(int(self.interval), BACKUP_SKEW)

    def available(self) -> bool:
        return shutil.which(self.kind, path="/usr/sbin:/usr/bin:/sbin:/bin") is not None or (
            self.kind == "pycarp"
        )


def start(
    lab: Lab,
    node: str,
    peer: Peer,
    *,
    master: bool,
    workdir: pathlib.Path,
    vhid: int = 1,
    address: str = VIRTUAL,
) -> Daemon:
    """Start ``peer`` on ``node`` in the master or backup role for one group and address."""
    skew = MASTER_SKEW if master else BACKUP_SKEW
    if peer.kind == "pycarp":
        args = pycarp_args(
            lab,
            node,
            vhid=vhid,
            addresses=[f"{address}/{PREFIX_LEN}"],
            advbase=int(peer.interval),
            advskew=skew,
        )
        return start_pycarp(lab, node, args, workdir=workdir)
    if peer.kind == "ucarp":
        return start_ucarp(
            lab,
            node,
            workdir=workdir,
            vhid=vhid,
            address=address,
            prefix=PREFIX_LEN,
            advbase=int(peer.interval),
            advskew=skew,
        )
    if peer.kind == "keepalived":
        priority = MASTER_PRIORITY if master else BACKUP_PRIORITY
        return start_keepalived(
            lab,
            node,
            workdir=workdir,
            vhid=vhid,
            address=address,
            priority=priority,
            interval=peer.interval,
        )
    raise LabError(f"unknown implementation {peer.kind!r}")


KEEPALIVED_CONF = """\
global_defs {{
    router_id {node}
    vrrp_version 3
}}

vrrp_instance VI_{vhid} {{
    state BACKUP
    interface {interface}
    virtual_router_id {vhid}
    priority {priority}
    advert_int {interval}
    virtual_ipaddress {{
        {address}/{prefix} dev {interface}
    }}
}}
"""


def start_keepalived(
    lab: Lab,
    node: str,
    *,
    workdir: pathlib.Path,
    vhid: int,
    address: str,
    priority: int,
    interval: float,
) -> Daemon:
    """keepalived (VRRPv3) in the node's namespace, in the foreground, one VRRP instance."""
    base = workdir / f"keepalived-{node}"
    conf = base.with_suffix(".conf")
    conf.write_text(
        KEEPALIVED_CONF.format(
            node=node,
            vhid=vhid,
            interface=HOST_INTERFACE,
            priority=priority,
            interval=f"{interval:g}",
            address=address,
            prefix=PREFIX_LEN,
        )
    )
    return run_keepalived(lab, node, base)


def run_keepalived(lab: Lab, node: str, base: pathlib.Path) -> Keepalived:
    """keepalived in the foreground on ``node`` with ``BASE.conf``; its pid files and log
    next to it, so several instances on one machine never share them."""
    argv = ["keepalived", "-n", "-l", "-D", "-G", "-P", "-f", str(base.with_suffix(".conf"))]
    for flag, suffix in (("-p", ""), ("-r", "-vrrp"), ("-c", "-checkers"), ("-b", "-bfd")):
        argv += [flag, f"{base}{suffix}.pid"]
    log_path = base.with_suffix(".log")
    with log_path.open("wb") as log:
        process = lab.popen(
            node, argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    return Keepalived("keepalived", node, process, log_path)


class Keepalived(Daemon):
    """keepalived, whose log is its only account of its states (``(VI_1) Entering MASTER
    STATE``): read here, so the lab's checks wait for its states as for the others'."""

    def states(self) -> list[str]:
        return [state for _vrid, state in _KEEPALIVED_STATE.findall(self.log())]


def states(daemon: Daemon) -> list[str]:
    """Every state the daemon entered, in order (:meth:`Daemon.states`)."""
    return daemon.states()


def state(daemon: Daemon) -> str | None:
    found = states(daemon)
    return found[-1] if found else None
