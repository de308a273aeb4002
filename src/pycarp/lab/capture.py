"""Capture every protocol-112 packet crossing the lab's bridge, with kernel timestamps.

tcpdump runs in the switch namespace on ``br0`` and writes classic pcap, one record per packet
as it arrives (``--immediate-mode``: libpcap would otherwise hold packets for up to a second;
``-U``: flushed at once); :meth:`AdvertCapture.packets` reads what has arrived so far with
:mod:`pycarp.pcap`. All namespaces share one kernel clock, so the timestamps of different
senders are directly comparable: this is how failover gaps are measured (old master's last
advert to new master's first), independently of what any daemon claims about itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import pathlib
import subprocess
import time
import typing

from pycarp.core import timing, vrrpwire, wire
from pycarp.lab import namespaces
from pycarp.lab.naming import BRIDGE, SWITCH, LabError
from pycarp.pcap import CapturedPacket, PcapError, read_packets

if typing.TYPE_CHECKING:  # for typing only: lab.py does not import this module
    from pycarp.lab.lab import Lab

READY_TIMEOUT = 5.0


@dataclasses.dataclass(frozen=True, slots=True)
class Advert:
    """One CARP advertisement seen on the bridge."""

    timestamp: float
    source: str
    ttl: int
    advert: wire.Advertisement
    payload: bytes
    mac: str | None = None  # the frame's source MAC


@dataclasses.dataclass(frozen=True, slots=True)
class VrrpAdvert:
    """One VRRPv3 advertisement seen on the bridge (its checksum verified in either form)."""

    timestamp: float
    source: str
    ttl: int
    advert: vrrpwire.VrrpAdvertisement
    checksum: vrrpwire.ChecksumMode
    payload: bytes


class AdvertCapture:
    """``with AdvertCapture(lab, path) as capture:`` ... ``capture.adverts()``."""

    def __init__(
        self,
        lab: Lab,
        path: pathlib.Path,
        *,
        exclude_nodes: typing.Sequence[str] = (),
        also: typing.Sequence[str] = (),
    ) -> None:
        """``exclude_nodes``: leave out frames those nodes send (by their MAC, in the kernel's
        filter), e.g. an attacker's flood, which would otherwise fill the file. ``also``:
        more tcpdump expressions to keep (``"arp"``: the announcements ``pycarp watch`` uses)."""
        self.path = path
        argv = ["tcpdump", "-i", BRIDGE, "--immediate-mode", "-U", "-n", "-s", "256"]
        wanted = " and ".join(
            ["(" + " or ".join(["ip proto 112", "ip6 proto 112", *also]) + ")"]
            + [f"not ether src {lab.mac(node)}" for node in exclude_nodes]
        )
        self._process = lab.popen(
            SWITCH,
            [*argv, "-w", str(path), wanted],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        assert self._process.stderr is not None
        while time.monotonic() < deadline:
            line = self._process.stderr.readline()
            if "listening on" in line:
                return
            if not line and self._process.poll() is not None:
                raise LabError(f"tcpdump exited with status {self._process.returncode}")
        self.stop()
        raise LabError("tcpdump did not start listening within 5 s")

    def packets(self) -> list[CapturedPacket]:
        """Every protocol-112 packet captured so far (a record being written is left out)."""
        found: list[CapturedPacket] = []
        # A record still being written raises PcapError at the end: it shows up next time.
        with self.path.open("rb") as stream, contextlib.suppress(PcapError):
            found.extend(read_packets(stream))
        return found

    def adverts(self) -> list[Advert]:
        """The CARP advertisements among them (VRRP and garbage are skipped)."""
        result = []
        for captured in self.packets():
            try:
                decoded = wire.decode(captured.packet.payload)
            except wire.DecodeError:
                continue
            result.append(
                Advert(
                    timestamp=captured.timestamp,
                    source=str(captured.packet.source),
                    ttl=captured.packet.ttl,
                    advert=decoded,
                    payload=captured.packet.payload[: wire.PAYLOAD_LEN],
                    mac=captured.link_source,
                )
            )
        return result

    def vrrp_adverts(self) -> list[VrrpAdvert]:
        """The VRRPv3 advertisements among them, with the checksum form each one verifies in
        (IPv6: always the pseudo-header); CARP, other versions and garbage are skipped."""
        result = []
        for captured in self.packets():
            packet = captured.packet
            form = vrrpwire.checksum_form(packet.payload, packet.source, packet.destination)
            if form is None:
                continue
            try:
                decoded = vrrpwire.decode(packet.payload, packet.source, packet.destination, form)
            except wire.DecodeError:
                continue
            result.append(
                VrrpAdvert(
                    timestamp=captured.timestamp,
                    source=str(packet.source),
                    ttl=packet.ttl,
                    advert=decoded,
                    checksum=form,
                    payload=packet.payload,
                )
            )
        return result

    def stop(self) -> None:
        namespaces.end_child(self._process)
        if self._process.stderr is not None:
            self._process.stderr.close()

    def __enter__(self) -> AdvertCapture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def failover_gap(adverts: list[Advert], old: str, new: str, *, vhid: int, after: float) -> float:
    """Seconds from ``old``'s last advert before ``new``'s first one (both after ``after``).

    ``after`` excludes earlier history (e.g. the moment of the kill minus a little): the first
    advert of ``new`` for ``vhid`` after it is the takeover advert.
    """
    of_vhid = [a for a in adverts if a.advert.vhid == vhid and not is_bow_out(a)]
    firsts = [a.timestamp for a in of_vhid if a.source == new and a.timestamp >= after]
    if not firsts:
        raise LabError(f"no advert from {new} for vhid {vhid} after t={after:.3f}")
    first_new = firsts[0]
    lasts = [a.timestamp for a in of_vhid if a.source == old and a.timestamp < first_new]
    if not lasts:
        raise LabError(f"no advert from {old} for vhid {vhid} before {new} took over")
    return first_new - lasts[-1]


def is_bow_out(advert: Advert) -> bool:
    """A host leaving the group: it advertises the slowest timing (core/timing.py)."""
    timing_on_wire = (advert.advert.advbase, advert.advert.advskew)
    return timing_on_wire == (timing.BOW_OUT_ADVBASE, timing.BOW_OUT_ADVSKEW)
