"""pycarp (``--vrrp3``) and keepalived 2.2.7 (``vrrp_version 3``) in one VRRP group.

The two are judged from outside and from their own records: keepalived's states from its
notify script (:mod:`pycarp.lab.keepalived`), pycarp's from its events, the addresses from the
kernels, and timing from the wire: tcpdump on the lab's bridge gives every advert a kernel
timestamp, so a takeover is measured as the old master's last advert (or its priority-0 one)
to the new master's first, whatever the test process was doing meanwhile.

Timers (RFC 9568 section 6.1): Skew_Time = (256 - priority) x interval / 256 and
Active_Down_Interval = 3 x interval + Skew_Time.
"""

from __future__ import annotations

import dataclasses
import pathlib
import shutil
import time
import typing

import pytest

from pycarp.lab import Lab, keepalived
from pycarp.lab.capture import AdvertCapture
from pycarp.lab.daemons import Daemon, start_pycarp, wait_for
from pycarp.lab.naming import HOST_INTERFACE, LabError
from pycarp.lab.programs import SYSTEM_PATH

VRID = 42
VIRTUAL = {4: "198.51.100.100/24", 6: "2001:db8::100/64"}
SECOND = {4: "198.51.100.101/24", 6: "2001:db8::101/64"}
HIGH, LOW = 200, 100
# Slack on a protocol timer: two shared cores, several helpers' tests at once. A timer-driven
# takeover must still land after the timer and well before the next one could.
SLACK = 0.3
SETTLE = 5.0  # bound for a state the protocol reaches within a second or two


def need_keepalived() -> None:
    if shutil.which("keepalived", path=SYSTEM_PATH) is None:
        pytest.skip("keepalived is not installed (Debian package keepalived, scripts/setup.sh)")


def skew(priority: int, interval: float) -> float:
    return (256 - priority) * interval / 256


def down_interval(priority: int, interval: float) -> float:
    return 3 * interval + skew(priority, interval)


def link_local(lab: Lab, node: str) -> str:
    return next(str(a.ip) for a in lab.addresses(node) if a.ip.version == 6 and a.ip.is_link_local)


def source_of(lab: Lab, node: str, family: int) -> str:
    """The address a VRRPv3 router sends from: IPv4 its own, IPv6 its link-local (RFC 9568)."""
    return str(lab.ipv4(node).ip) if family == 4 else link_local(lab, node)


def start_pycarp_vrrp(
    lab: Lab,
    node: str,
    workdir: pathlib.Path,
    *,
    family: int,
    priority: int,
    interval: float,
    addresses: typing.Sequence[str] | None = None,
    extra: typing.Sequence[str] = (),
    tag: str = "",
) -> Daemon:
    """pycarp running one VRRPv3 group (the documented ``--vrrp3`` flags)."""
    args = ["-i", HOST_INTERFACE, "-s", source_of(lab, node, family), "-v", str(VRID)]
    args += ["--vrrp3", "--priority", str(priority), "--interval", f"{interval:g}"]
    for address in addresses or [VIRTUAL[family]]:
        args += ["-a", address]
    return start_pycarp(lab, node, [*args, *extra], workdir=workdir, passphrase=None, tag=tag)


def start_keepalived(
    lab: Lab,
    node: str,
    workdir: pathlib.Path,
    *,
    family: int,
    priority: int,
    interval: float,
    addresses: typing.Sequence[str] | None = None,
    preempt: bool = True,
    tag: str = "",
) -> keepalived.Keepalived:
    instance = keepalived.Instance(
        VRID,
        tuple(addresses or [VIRTUAL[family]]),
        priority=priority,
        interval=interval,
        preempt=preempt,
    )
    return keepalived.start(lab, node, [instance], workdir=workdir, tag=tag).wait_running()


@dataclasses.dataclass(frozen=True)
class Seen:
    """One VRRPv3 advert on the bridge."""

    timestamp: float
    source: str
    priority: int
    addresses: int


class VrrpWire:
    """``with VrrpWire(lab, path) as wire:`` every VRRPv3 advert of :data:`VRID` seen so far."""

    def __init__(self, lab: Lab, path: pathlib.Path) -> None:
        self._capture = AdvertCapture(lab, path)

    def adverts(self) -> list[Seen]:
        found = []
        for captured in self._capture.packets():
            payload = captured.packet.payload
            if len(payload) >= 8 and payload[0] == 0x31 and payload[1] == VRID:
                source = str(captured.packet.source)
                found.append(Seen(captured.timestamp, source, payload[2], payload[3]))
        return found

    def wait_advert(
        self, source: str, timeout: float, *, after: float = 0.0, priority: int | None = None
    ) -> Seen:
        """The first advert from ``source`` later than ``after`` (of ``priority`` if given)."""

        def matching() -> list[Seen]:
            return [
                seen
                for seen in self.adverts()
                if seen.source == source
                and seen.timestamp > after
                and priority in (None, seen.priority)
            ]

        try:
            wait_for(lambda: bool(matching()), timeout, interval=0.02)
        except LabError:
            raise LabError(
                f"no advert from {source} (priority {priority}) after {after:.3f} "
                f"within {timeout:g} s; seen: {self.adverts()[-5:]}"
            ) from None
        return matching()[0]

    def last_before(self, source: str, moment: float) -> Seen:
        earlier = [s for s in self.adverts() if s.source == source and s.timestamp < moment]
        if not earlier:
            raise LabError(f"no advert from {source} before {moment:.3f}")
        return earlier[-1]

    def stop(self) -> None:
        self._capture.stop()

    def __enter__(self) -> VrrpWire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def assert_quiet(daemons: typing.Sequence[Daemon], seconds: float) -> None:
    """For ``seconds``: every daemon stays alive and enters no new state."""
    before = [daemon.states() for daemon in daemons]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for daemon, states in zip(daemons, before, strict=True):
            assert daemon.alive(), f"{daemon.kind} on {daemon.node} exited:\n{daemon.log()}"
            now = daemon.states()
            assert now == states, f"{daemon.kind} on {daemon.node} went {states} -> {now}"
        time.sleep(0.05)


def drops(daemon: Daemon, reason: str) -> int:
    """How many adverts pycarp dropped for ``reason`` (its status counters)."""
    (group,) = daemon.status()["groups"]
    count: int = group["drops"].get(reason, 0)
    return count
