"""keepalived (VRRPv3) as a lab peer: its configuration, its process, its state.

One way to run keepalived for the interop tests and the vector captures (:func:`run` is what
the benchmarks' ``benchlib.peers.run_keepalived`` does too):

* the configuration is generated from :class:`Instance` values (``vrrp_version 3``, IPv4 or
  IPv6 by the family of the virtual addresses, priority, ``advert_int``, preempt or not,
  ``preempt_delay``), one file per keepalived, written into the caller's work directory;
* keepalived runs in the foreground (``-n``), VRRP only (``-P``), logging to its console (``-l
  -D``, captured in a log file) and not to syslog (``-G``), with pid files of its own, so several
  keepalived on one machine never share anything;
* its state comes from a ``notify`` script it runs at every transition, which appends
  ``INSTANCE STATE PRIORITY`` to a file: a record keepalived makes for programs, not its log
  (worded for people, and the same for every instance).

keepalived forks a VRRP child, and that child leaves politely (priority 0, addresses removed)
when its parent dies: :meth:`Keepalived.kill` freezes both before killing them, so a kill is a
crash, as a host dying would be.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import os
import pathlib
import re
import signal
import subprocess
import time
import typing

from pycarp.lab.daemons import Daemon
from pycarp.lab.naming import HOST_INTERFACE, LabError
from pycarp.lab.programs import require

if typing.TYPE_CHECKING:
    from pycarp.lab.lab import Lab

# The first release with ``v3_checksum_as_v2`` (keepalived's NEWS for 2.2.8, May 2023); Debian
# 12 ships 2.2.7, which only knows the checksum with the IPv4 pseudo-header.
CHECKSUM_AS_V2_SINCE = (2, 2, 8)
_VERSION = re.compile(r"Keepalived v(\d+)\.(\d+)\.(\d+)")

NOTIFY_SCRIPT = """#!/bin/sh
# keepalived notify: $1 = INSTANCE or GROUP, $2 = its name, $3 = the new state, $4 = priority
printf '%s %s %s\\n' "$2" "$3" "$4" >> {states}
"""


@dataclasses.dataclass(frozen=True)
class Instance:
    """One ``vrrp_instance``: a VRID on the host's ``eth0`` with its virtual addresses.

    The family is the addresses' (all IPv4 or all IPv6): keepalived makes an IPv6 instance of
    one whose virtual addresses are IPv6, and sends its adverts from the link-local address.
    """

    vrid: int
    addresses: tuple[str, ...]  # with their prefix length: "198.51.100.100/24"
    priority: int = 100
    interval: float = 1.0  # advert_int, seconds (keepalived accepts centiseconds)
    preempt: bool = True
    preempt_delay: float = 0.0
    checksum_as_v2: bool = False  # v3_checksum_as_v2 (RFC 9568's checksum; keepalived >= 2.2.8)

    def __post_init__(self) -> None:
        families = {ipaddress.ip_interface(address).version for address in self.addresses}
        if len(families) != 1:
            raise LabError(f"instance {self.vrid}: give IPv4 or IPv6 addresses, not {families}")

    @property
    def family(self) -> int:
        return ipaddress.ip_interface(self.addresses[0]).version

    @property
    def name(self) -> str:
        """``VI_<vrid>_<family>``: one VRID may run an IPv4 and an IPv6 instance at once."""
        return f"VI_{self.vrid}_{self.family}"


def config_text(
    router_id: str,
    instances: typing.Sequence[Instance],
    *,
    notify: pathlib.Path | None = None,
    interface: str = HOST_INTERFACE,
) -> str:
    """keepalived.conf for ``instances`` (VRRPv3), each calling ``notify`` at a transition."""
    lines = [
        "global_defs {",
        f"    router_id {router_id}",
        "    vrrp_version 3",
        "    script_user root",
        "}",
    ]
    for instance in instances:
        lines += [
            "",
            f"vrrp_instance {instance.name} {{",
            "    state BACKUP",
            f"    interface {interface}",
            f"    virtual_router_id {instance.vrid}",
            f"    priority {instance.priority}",
            f"    advert_int {instance.interval:g}",
        ]
        if not instance.preempt:
            lines.append("    nopreempt")
        if instance.preempt_delay:
            lines.append(f"    preempt_delay {instance.preempt_delay:g}")
        if instance.checksum_as_v2:
            lines.append("    v3_checksum_as_v2")
        if notify is not None:
            lines.append(f"    notify {notify}")
        lines.append("    virtual_ipaddress {")
        lines += [f"        {address} dev {interface}" for address in instance.addresses]
        lines += ["    }", "}"]
    return "\n".join(lines) + "\n"


def version() -> tuple[int, int, int]:
    """The installed keepalived's version, from ``keepalived --version``."""
    done = subprocess.run(
        [require("keepalived"), "--version"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    match = _VERSION.search(done.stdout + done.stderr)
    if match is None:
        raise LabError(f"keepalived --version said nothing recognisable: {done.stderr.strip()!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def checksum_as_v2_missing() -> str | None:
    """Why this keepalived cannot send RFC 9568's checksum (None: it can)."""
    found = version()
    if found >= CHECKSUM_AS_V2_SINCE:
        return None
    have = ".".join(map(str, found))
    need = ".".join(map(str, CHECKSUM_AS_V2_SINCE))
    return f"keepalived {have} has no v3_checksum_as_v2 (added in {need})"


def start(
    lab: Lab,
    node: str,
    instances: typing.Sequence[Instance],
    *,
    workdir: pathlib.Path,
    tag: str = "",
) -> Keepalived:
    """keepalived on ``node`` running ``instances``; its files are ``keepalived-NODE{tag}.*``."""
    if any(instance.checksum_as_v2 for instance in instances):
        reason = checksum_as_v2_missing()
        if reason is not None:
            raise LabError(reason)
    base = workdir / f"keepalived-{node}{tag}"
    states = base.with_suffix(".states")
    states.unlink(missing_ok=True)
    notify = base.with_suffix(".notify.sh")
    notify.write_text(NOTIFY_SCRIPT.format(states=states))
    notify.chmod(0o755)
    base.with_suffix(".conf").write_text(config_text(node, instances, notify=notify))
    daemon = run(lab, node, base)
    daemon.states_path = states
    return daemon


def run(lab: Lab, node: str, base: pathlib.Path) -> Keepalived:
    """keepalived in the foreground on ``node`` with ``BASE.conf``; its pid files and log next
    to it, so several instances on one machine never share them."""
    argv = [require("keepalived"), "-n", "-l", "-D", "-G", "-P"]
    argv += ["-f", str(base.with_suffix(".conf"))]
    for flag, suffix in (("-p", ""), ("-r", "-vrrp"), ("-c", "-checkers"), ("-b", "-bfd")):
        argv += [flag, f"{base}{suffix}.pid"]
    log_path = base.with_suffix(".log")
    with log_path.open("wb") as log:
        process = lab.popen(
            node, argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    return Keepalived("keepalived", node, process, log_path, vrrp_pid_path=f"{base}-vrrp.pid")


@dataclasses.dataclass
class Keepalived(Daemon):
    """A keepalived process: its states from its notify file (when started by :func:`start`)."""

    vrrp_pid_path: str = ""
    states_path: pathlib.Path | None = None

    def transitions(self, instance: str | None = None) -> list[tuple[str, str, int]]:
        """(instance, state, priority) of every notify call so far, in order."""
        if self.states_path is None or not self.states_path.exists():
            return []
        found = []
        for line in self.states_path.read_text().splitlines():
            name, state, priority = line.split()
            if instance in (None, name):
                found.append((name, state, int(priority)))
        return found

    def states(self) -> list[str]:
        """Every state (MASTER, BACKUP, FAULT, STOP) its instances entered, in order."""
        return [state for _name, state, _priority in self.transitions()]

    def vrrp_pid(self) -> int | None:
        """The VRRP child's PID (from its pid file), None before keepalived wrote it (the file
        exists, empty, for a moment before)."""
        with contextlib.suppress(FileNotFoundError, ValueError, IndexError):
            return int(pathlib.Path(self.vrrp_pid_path).read_text().split()[0])
        return None

    def wait_running(self, timeout: float = 10.0) -> Keepalived:
        """Block until the VRRP child runs (its pid file exists), so a kill finds it."""
        deadline = time.monotonic() + timeout
        while self.vrrp_pid() is None:
            if not self.alive():
                raise LabError(f"keepalived on {self.node} exited:\n{self.log()[-2000:]}")
            if time.monotonic() > deadline:
                raise LabError(f"keepalived on {self.node}: no VRRP child in {timeout:g} s")
            time.sleep(0.02)
        return self

    def kill(self) -> None:
        """A crash: freeze parent and VRRP child, then SIGKILL both (no priority-0 advert, the
        addresses stay behind). A child that saw its parent die would leave politely."""
        pids = [self.pid]
        child = self.vrrp_pid()
        if child is not None:
            pids.append(child)
        for each in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(each, signal.SIGSTOP)
        for each in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(each, signal.SIGKILL)
        self.process.wait(timeout=5)
