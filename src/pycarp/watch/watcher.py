"""The watcher: fed frames or IP packets with their times, it keeps every group's table.

Nothing here reads a clock or a socket: ``pycarp watch --pcap`` feeds it a file's records,
``pycarp watch -i`` a packet socket's, tests feed it bytes they build. :meth:`Watcher.report`
turns the state into a :class:`~pycarp.watch.report.Report` at any moment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pycarp import pcap
from pycarp.core import wire
from pycarp.core.constants import CARP_PROTOCOL, IPAddress
from pycarp.core.stats import DropReason
from pycarp.core.timing import BOW_OUT_ADVBASE, BOW_OUT_ADVSKEW, advertisement_interval
from pycarp.watch import analysis, frames, vrrp
from pycarp.watch.digest import DigestChecker
from pycarp.watch.groups import Group, Seen
from pycarp.watch.report import Report

MAX_GROUPS = 1024  # (protocol, id, family) triples: 2 x 255 x 2 is the most a segment can have
MAX_ANNOUNCED = 64  # addresses remembered per MAC


class Watcher:
    """``Watcher(passphrases={None: [b"secret"], 5: [b"other"]}, addresses={...})``.

    ``passphrases`` and ``addresses`` map a vhid (``None``: every vhid) to the passphrases and
    to the address sets to try when checking CARP digests; ``configured`` maps a vhid to the
    address sets of daemon configurations (tried after ``addresses``).
    """

    def __init__(
        self,
        passphrases: Mapping[int | None, Sequence[bytes]] | None = None,
        addresses: Mapping[int | None, Sequence[tuple[IPAddress, ...]]] | None = None,
        configured: Mapping[int, Sequence[tuple[IPAddress, ...]]] | None = None,
    ) -> None:
        self._passphrases = dict(passphrases or {})
        self._addresses = dict(addresses or {})
        self._configured = dict(configured or {})  # from daemon configurations (--config)
        self.groups: dict[tuple[str, int, int], Group] = {}
        self.announced: dict[str, set[IPAddress]] = {}  # MAC -> addresses it announced
        self.malformed: dict[str, list[tuple[int, float, str]]] = {}  # source -> evidence
        self.malformed_count: dict[str, int] = {}
        self.packets = 0
        self.frames = 0
        self._checkers: dict[int, DigestChecker] = {}
        self.verdict_cache: analysis.VerdictCache = {}  # analysis.build's, kept between reports
        self.first_time: float | None = None
        self.last_time: float | None = None

    # -- input ---------------------------------------------------------------------------

    def feed_frame(self, time: float, linktype: int, frame: bytes, number: int = 0) -> None:
        """A link-layer frame of a pcap link type (Ethernet, Linux cooked, raw IP)."""
        self.frames += 1
        carried = frames.split_frame(linktype, frame)
        if carried is None:
            return
        if carried.ethertype == frames.ETHERTYPE_ARP:
            announcement = frames.parse_arp(carried.network)
            if announcement is not None:
                self._announce(announcement)
        elif carried.ethertype in (frames.ETHERTYPE_IPV4, frames.ETHERTYPE_IPV6):
            self.feed_ip(time, carried.network, carried.mac, number or self.frames)

    def feed_ip(self, time: float, packet: bytes, mac: str | None = None, number: int = 0) -> None:
        """A whole IPv4/IPv6 packet; ``mac`` is the link-layer source if known."""
        try:
            ip = pcap.parse_ip(packet)
        except pcap.PcapError:
            return
        if ip.protocol != CARP_PROTOCOL:
            announcement = frames.parse_neighbour_advert(ip, mac)
            if announcement is not None:
                self._announce(announcement)
            return
        self.packets += 1
        self.first_time = time if self.first_time is None else min(self.first_time, time)
        self.last_time = time if self.last_time is None else max(self.last_time, time)
        frame = number or self.packets
        seen = self._carp(ip, time, mac, frame)
        if seen is None:
            return
        protocol, ident, advert = seen
        key = (protocol, ident, ip.source.version)
        group = self.groups.get(key)
        if group is None:
            if len(self.groups) >= MAX_GROUPS:
                return
            group = self.groups[key] = Group(protocol, ident, ip.source.version)
        group.add(advert)

    def _carp(
        self, ip: pcap.IPPacket, time: float, mac: str | None, frame: int
    ) -> tuple[str, int, Seen] | None:
        try:
            adv = wire.decode(ip.payload)
        except wire.DecodeError as error:
            if error.reason is DropReason.VRRP:
                return self._vrrp(ip, time, mac, frame)
            self._malformed(ip, time, frame, f"not CARP: {error.detail}")
            return None
        bow_out = (adv.advbase, adv.advskew) == (BOW_OUT_ADVBASE, BOW_OUT_ADVSKEW)
        seen = Seen(
            frame=frame,
            time=time,
            source=ip.source,
            mac=mac,
            ttl=ip.ttl,
            multicast=ip.destination.is_multicast,
            interval=advertisement_interval(adv.advbase, adv.advskew),
            rank=(adv.demote, adv.advbase * 256 + adv.advskew),
            bow_out=bow_out,
            advbase=adv.advbase,
            advskew=adv.advskew,
            demote=adv.demote,
            counter=adv.counter_bytes,
            digest=adv.digest,
        )
        return "carp", adv.vhid, seen

    def _vrrp(
        self, ip: pcap.IPPacket, time: float, mac: str | None, frame: int
    ) -> tuple[str, int, Seen] | None:
        try:
            adv = vrrp.parse(ip.payload, ipv6=ip.source.version == 6)
        except vrrp.NotVrrp as error:
            self._malformed(ip, time, frame, f"VRRP version, but {error}")
            return None
        seen = Seen(
            frame=frame,
            time=time,
            source=ip.source,
            mac=mac,
            ttl=ip.ttl,
            multicast=ip.destination.is_multicast,
            interval=adv.interval,
            rank=(0, 255 - adv.priority),
            bow_out=adv.priority == 0,
            priority=adv.priority,
            addresses=adv.addresses,
        )
        return f"vrrp{adv.version}", adv.vrid, seen

    def _malformed(self, ip: pcap.IPPacket, time: float, frame: int, detail: str) -> None:
        source = str(ip.source)
        if source not in self.malformed_count and len(self.malformed_count) >= MAX_GROUPS:
            return
        self.malformed_count[source] = self.malformed_count.get(source, 0) + 1
        evidence = self.malformed.setdefault(source, [])
        if len(evidence) < 3:
            evidence.append((frame, time, detail))

    def _announce(self, announcement: frames.Announcement) -> None:
        addresses = self.announced.get(announcement.mac)
        if addresses is None:
            if len(self.announced) >= MAX_GROUPS:
                return
            addresses = self.announced[announcement.mac] = set()
        if len(addresses) < MAX_ANNOUNCED:
            addresses.add(announcement.address)

    # -- questions -------------------------------------------------------------------------

    def checker(self, vhid: int) -> DigestChecker:
        found = self._checkers.get(vhid)
        if found is None:
            keys = [*self._passphrases.get(vhid, ()), *self._passphrases.get(None, ())]
            found = self._checkers[vhid] = DigestChecker(vhid, keys)
        return found

    def given_sets(self, vhid: int) -> list[tuple[IPAddress, ...]]:
        return [*self._addresses.get(vhid, ()), *self._addresses.get(None, ())]

    def configured_sets(self, vhid: int) -> list[tuple[IPAddress, ...]]:
        return list(self._configured.get(vhid, ()))

    def announced_for(self, group: Group) -> list[frozenset[IPAddress]]:
        """Address sets announced by the group's virtual MAC or by a MAC that sent its
        adverts: each MAC's, then all of them together. The senders' own addresses are left
        out (those are the nodes', not the group's). Both families: the kernel digest covers
        the IPv4 and the IPv6 addresses of a group."""
        macs = {f"00:00:5e:00:01:{group.ident:02x}", f"00:00:5e:00:00:{group.ident:02x}"}
        for sender in group.senders.values():
            macs.update(sender.macs)
        own: set[IPAddress] = set()
        for other in self.groups.values():
            own.update(other.senders)
        sets = []
        for mac in sorted(macs):
            found = frozenset(a for a in self.announced.get(mac, ()) if a not in own)
            if found and found not in sets:
                sets.append(found)
        union = frozenset().union(*sets)
        if union and union not in sets:
            sets.append(union)
        return sets

    def report(self) -> Report:
        return analysis.build(self)

    def finish(self) -> Report:
        for group in self.groups.values():
            group.finish()
        return self.report()
