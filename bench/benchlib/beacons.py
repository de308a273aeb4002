"""Advertisements of any kind (CARP, VRRPv3) from a bridge capture, as (time, sender, group).

The failover gap is read from the wire for every implementation alike: the old master's last
advertisement for the group, then the new master's first. CARP packets are decoded with
:mod:`pycarp.core.wire`; VRRPv3 (keepalived) is parsed here from its fixed header, RFC 5798
section 5.1: version 3 and type 1 in the first byte, then VRID, priority, address count and a
12-bit advertisement interval in centiseconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import pathlib
import subprocess
import time
import typing

from pycarp.core import timing, wire
from pycarp.lab import Lab, LabError
from pycarp.lab.namespaces import end_child
from pycarp.lab.naming import SWITCH
from pycarp.pcap import CapturedPacket, PcapError, read_packets

VRRP_VERSION_3_ADVERT = 0x31
VRRP_HEADER_LEN = 8
VRRP_RESIGN_PRIORITY = 0  # a master leaving on purpose (VRRP's bow-out)


@dataclasses.dataclass(frozen=True, slots=True)
class Beacon:
    """One advertisement on the wire."""

    timestamp: float  # kernel capture time (wall clock, shared by every namespace)
    source: str
    group: int  # CARP vhid or VRRP VRID
    protocol: str  # "carp" or "vrrp"
    leaving: bool  # CARP bow-out (advbase 255/advskew 255) or VRRP priority 0


def beacon_of(captured: CapturedPacket) -> Beacon | None:
    """The advertisement in a captured protocol-112 packet, or None if it is neither kind."""
    payload = captured.packet.payload
    source = str(captured.packet.source)
    if len(payload) >= VRRP_HEADER_LEN and payload[0] == VRRP_VERSION_3_ADVERT:
        return Beacon(
            captured.timestamp, source, payload[1], "vrrp", payload[2] == VRRP_RESIGN_PRIORITY
        )
    try:
        advert = wire.decode(payload)
    except wire.DecodeError:
        return None
    leaving = (advert.advbase, advert.advskew) == (
        timing.BOW_OUT_ADVBASE,
        timing.BOW_OUT_ADVSKEW,
    )
    return Beacon(captured.timestamp, source, advert.vhid, "carp", leaving)


def read_beacons(path: pathlib.Path) -> list[Beacon]:
    """Every advertisement in a pcap file written so far (a half-written record is left out)."""
    found: list[Beacon] = []
    with path.open("rb") as stream, contextlib.suppress(PcapError):
        for captured in read_packets(stream):
            beacon = beacon_of(captured)
            if beacon is not None:
                found.append(beacon)
    return found


def takeover_gap(
    beacons: typing.Sequence[Beacon], *, old: str, new: str, group: int, after: float
) -> float:
    """Seconds from ``old``'s last advertisement to ``new``'s first one after ``after``."""
    of_group = [b for b in beacons if b.group == group and not b.leaving]
    firsts = [b.timestamp for b in of_group if b.source == new and b.timestamp >= after]
    if not firsts:
        raise LabError(f"no advertisement from {new} for group {group} after t={after:.3f}")
    lasts = [b.timestamp for b in of_group if b.source == old and b.timestamp < firsts[0]]
    if not lasts:
        raise LabError(f"no advertisement from {old} for group {group} before the takeover")
    return firsts[0] - lasts[-1]


def capture_filter(exclude_macs: typing.Sequence[str] = ()) -> str:
    """tcpdump's filter: protocol 112 over IPv4 and IPv6, minus frames from ``exclude_macs``."""
    wanted = "(ip proto 112 or ip6 proto 112)"
    return " and ".join([wanted, *(f"not ether src {mac}" for mac in exclude_macs)])


class BridgeCapture:
    """tcpdump on one of the switch's bridges (IPv4 and IPv6 protocol 112), into a file.

    :class:`pycarp.lab.capture.AdvertCapture` covers ``br0`` and IPv4 CARP; this one also
    takes the extra bridges of :mod:`benchlib.wiring` and IPv6, which the 1,000-group run needs.
    """

    READY_TIMEOUT = 5.0

    def __init__(
        self,
        lab: Lab,
        bridge: str,
        path: pathlib.Path,
        *,
        exclude_macs: typing.Sequence[str] = (),
    ) -> None:
        """``exclude_macs``: frames from these senders are left out by the kernel's filter (a
        flooding attacker's 50,000 packets/s would otherwise fill the file and the CPU)."""
        self.path = path
        argv = ["tcpdump", "-i", bridge, "--immediate-mode", "-U", "-n", "-s", "200"]
        self._process = lab.popen(
            SWITCH,
            [*argv, "-w", str(path), capture_filter(exclude_macs)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + self.READY_TIMEOUT
        assert self._process.stderr is not None
        while time.monotonic() < deadline:
            line = self._process.stderr.readline()
            if "listening on" in line:
                return
            if not line and self._process.poll() is not None:
                break
        self.stop()
        raise LabError(f"tcpdump on {bridge} did not start")

    def beacons(self) -> list[Beacon]:
        return read_beacons(self.path)

    def stop(self) -> None:
        end_child(self._process)
        if self._process.stderr is not None:
            self._process.stderr.close()

    def __enter__(self) -> BridgeCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
