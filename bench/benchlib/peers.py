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
import os
import pathlib
import re
import shutil
import subprocess
import sys

from pycarp.core import timing
from pycarp.lab import HOST_INTERFACE, Lab, LabError
from pycarp.lab.daemons import Daemon, start_pycarp, start_ucarp

VIRTUAL = "198.51.100.100"
PREFIX_LEN = 24
MASTER_SKEW, BACKUP_SKEW = 0, 100
MASTER_PRIORITY, BACKUP_PRIORITY = 250, 156  # skew time (256 - 156)/256 = 100/256 interval
SUB_SECOND_ADVBASE = 0  # OpenBSD's sub-second CARP: the interval is advskew/256 s

_KEEPALIVED_STATE = re.compile(r"\(VI_(\d+)\) Entering (MASTER|BACKUP|FAULT) STATE")


@dataclasses.dataclass(frozen=True)
class Peer:
    """One implementation at one advertisement interval.

    ``protocol`` is pycarp's mode ("carp" or "vrrp3"; ucarp is CARP and keepalived VRRPv3
    whatever it says). ``baseline`` runs pycarp from another source tree (its ``src``
    directory), so the code before a change can be measured in the same command as after it.
    """

    kind: str  # "pycarp", "ucarp" or "keepalived"
    interval: float  # seconds between a master's advertisements (asked for)
    protocol: str = "carp"
    baseline: str = ""

    @property
    def label(self) -> str:
        mode = " VRRPv3" if self.vrrp else ""
        if self.kind == "pycarp" and self.baseline:
            mode += " (baseline)"
        return f"{self.kind}{mode} {self.interval:g} s"

    @property
    def vrrp(self) -> bool:
        return self.kind == "keepalived" or self.protocol == "vrrp3"

    @property
    def advbase(self) -> int:
        """CARP's advbase: whole seconds, 0 (OpenBSD's sub-second mode) below one second."""
        return int(self.interval) if self.interval >= 1 else SUB_SECOND_ADVBASE

    @property
    def skews(self) -> tuple[int, int]:
        """CARP advskews (master, backup) giving the same timers as VRRP's priorities.

        At advbase 0 the advskew *is* the interval (advskew/256 s) and the backup waits three
        of its own intervals (OpenBSD), so the master gets the interval rounded to 1/256 s and
        the backup the skew whose 3 x advskew/256 is nearest VRRP's master-down time.
        """
        if self.interval >= 1:
            return MASTER_SKEW, BACKUP_SKEW
        master = max(1, round(self.interval * timing.SKEW_UNIT))
        backup = round(self._vrrp_down * timing.SKEW_UNIT / 3)
        return master, max(backup, master + 1)

    @property
    def advert_interval(self) -> float:
        """The master's interval on the wire (CARP at advbase 0: a multiple of 1/256 s)."""
        if self.vrrp or self.interval >= 1:
            return self.interval
        return self.skews[0] / timing.SKEW_UNIT

    @property
    def _vrrp_down(self) -> float:
        return 3 * self.interval + (256 - BACKUP_PRIORITY) / 256 * self.interval

    @property
    def master_down(self) -> float:
        """How long the backup waits after the master's last advertisement (the protocol)."""
        if self.vrrp:
            return self._vrrp_down
        if self.interval >= 1:
            return timing.master_down_interval(self.advbase, BACKUP_SKEW)
        return 3 * self.skews[1] / timing.SKEW_UNIT  # OpenBSD: 3 x (0 + advskew/256)

    def timing_flags(self, *, master: bool) -> list[str]:
        """pycarp's command-line flags for this peer's timers in the master or backup role."""
        if self.protocol == "vrrp3":
            priority = MASTER_PRIORITY if master else BACKUP_PRIORITY
            return ["--vrrp3", "--priority", str(priority), "--interval", f"{self.interval:g}"]
        skew = self.skews[0] if master else self.skews[1]
        return ["-b", str(self.advbase), "-k", str(skew)]

    def timing_fields(self, *, master: bool) -> dict[str, object]:
        """The same timers as TOML fields of a ``[[group]]``."""
        if self.protocol == "vrrp3":
            priority = MASTER_PRIORITY if master else BACKUP_PRIORITY
            return {"protocol": "vrrp3", "priority": priority, "interval": self.interval}
        return {"advbase": self.advbase, "advskew": self.skews[0] if master else self.skews[1]}

    def program(self) -> tuple[str, ...]:
        """How the interpreter runs pycarp: ``-m pycarp``, or the baseline tree's."""
        if not self.baseline:
            return ("-m", "pycarp")
        code = (
            f"import runpy, sys; sys.path.insert(0, {self.baseline!r}); "
            "runpy.run_module('pycarp', run_name='__main__', alter_sys=True)"
        )
        return ("-c", code)

    def unavailable(self) -> str:
        """Why this peer cannot run here ("" if it can): not installed, or a pycarp that
        does not accept these timers yet (advbase 0, VRRPv3), with pycarp's own error."""
        if self.kind != "pycarp":
            found = shutil.which(self.kind, path="/usr/sbin:/usr/bin:/sbin:/bin")
            return "" if found else f"{self.kind} is not installed"
        if self.baseline and not pathlib.Path(self.baseline).is_dir():
            return f"no source tree at {self.baseline}"
        flags = ["-i", HOST_INTERFACE, "-s", "198.51.100.1", "-v", "1", "-a", f"{VIRTUAL}/24"]
        probe = subprocess.run(
            [sys.executable, *self._probe_program(), *flags, *self.timing_flags(master=False)],
            capture_output=True,
            text=True,
            env={**os.environ, "PYCARP_PASS": "probe"},
            timeout=30,
            check=False,
        )
        if probe.returncode == 0:
            return ""
        said = (probe.stderr.strip().splitlines() or ["no reason given"])[-1]
        return f"this pycarp does not accept {' '.join(self.timing_flags(master=False))}: {said}"

    def _probe_program(self) -> tuple[str, ...]:
        """Parse the flags as the daemon would, without starting anything."""
        path = f"sys.path.insert(0, {self.baseline!r}); " if self.baseline else ""
        code = (
            f"import sys; {path}"
            "from pycarp.config.flags import build_parser, config_from_args\n"
            "from pycarp.config.model import ConfigError\n"
            "try:\n"
            "    config_from_args(build_parser().parse_args(sys.argv[1:]))\n"
            "except ConfigError as error:\n"
            "    sys.exit(f'pycarp: error: {error}')"
        )
        return ("-c", code)

    def available(self) -> bool:
        return not self.unavailable()


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
    if peer.kind == "pycarp":
        args = ["-i", HOST_INTERFACE, "-s", str(lab.ipv4(node).ip), "-v", str(vhid)]
        args += ["-a", f"{address}/{PREFIX_LEN}", *peer.timing_flags(master=master)]
        return start_pycarp(lab, node, args, workdir=workdir, program=peer.program())
    skew = MASTER_SKEW if master else BACKUP_SKEW
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
