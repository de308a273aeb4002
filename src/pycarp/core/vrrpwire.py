"""The VRRPv3 advertisement on the wire (RFC 9568 §5): 8 bytes and the address list.

Layout (network byte order)::

    0  version<<4 | type (0x31)   1  VRID        2  priority     3  address count
    4-5  reserved (4 bits, 0) | max advert interval (12 bits, centiseconds)
    6-7  checksum                 8...  count addresses, 4 (IPv4) or 16 (IPv6) bytes each

The checksum (RFC 1071) covers the message and, for IPv6 always, a pseudo-header (source,
destination, length, protocol 112). For IPv4 the implementations differ: keepalived (by
default) and FreeBSD's ``carpver 3`` include the IPv4 pseudo-header, as RFC 5798 was read;
RFC 9568 leaves it out (keepalived's ``v3_checksum_as_v2``). :class:`ChecksumMode` names both.

There is no authentication in VRRPv3: anybody on the segment can send a valid advert.
Decoding raises :class:`~pycarp.core.wire.DecodeError` with the
:class:`~pycarp.core.stats.DropReason` the receive path counts, as the CARP codec does.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
import struct

from pycarp.core.constants import IPAddress
from pycarp.core.stats import DropReason
from pycarp.core.wire import DecodeError, internet_checksum

VRRP_VERSION = 3
TYPE_ADVERTISEMENT = 1
HEADER_LEN = 8
PROTOCOL = 112
MAX_INTERVAL_CS = 4095  # 12 bits of centiseconds: 40.95 s
MAX_ADDRESSES = 255
OWNER_PRIORITY = 255  # the address owner
RELEASE_PRIORITY = 0  # "I am leaving": backups take over after their skew only
GROUP_V4 = ipaddress.IPv4Address("224.0.0.18")
GROUP_V6 = ipaddress.IPv6Address("ff02::12")

_HEADER = struct.Struct("!BBBBHH")
assert _HEADER.size == HEADER_LEN


class ChecksumMode(enum.Enum):
    """How an IPv4 checksum is computed (IPv6 always uses the pseudo-header)."""

    PSEUDO_HEADER = "pseudo-header"  # keepalived's default, FreeBSD carpver 3
    RFC9568 = "rfc9568"  # the message alone (keepalived v3_checksum_as_v2)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class VrrpAdvertisement:
    """A decoded (or to-be-encoded) VRRPv3 advert. Ranges are checked on construction."""

    vrid: int
    priority: int
    interval_cs: int  # Max Adver Int, centiseconds
    addresses: tuple[IPAddress, ...]
    version: int = VRRP_VERSION
    type: int = TYPE_ADVERTISEMENT

    def __post_init__(self) -> None:
        for name, low, high in (
            ("vrid", 0, 255),
            ("priority", 0, 255),
            ("interval_cs", 0, MAX_INTERVAL_CS),
            ("version", 0, 15),
            ("type", 0, 15),
        ):
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name}={value} is outside {low}..{high}")
        if len(self.addresses) > MAX_ADDRESSES:
            raise ValueError(f"{len(self.addresses)} addresses, at most {MAX_ADDRESSES}")
        if len({a.version for a in self.addresses}) > 1:
            raise ValueError("addresses of one family only (one advert per family)")

    @property
    def interval(self) -> float:
        """The advert interval in seconds."""
        return self.interval_cs / 100


def group_address(source: IPAddress) -> IPAddress:
    """The multicast group adverts of ``source``'s family go to."""
    return GROUP_V4 if source.version == 4 else GROUP_V6


def pseudo_header(source: IPAddress, destination: IPAddress, length: int) -> bytes:
    """The IPv4 (RFC 768 style) or IPv6 (RFC 8200 §8.1) pseudo-header for ``length`` bytes."""
    if source.version == 4:
        return source.packed + destination.packed + struct.pack("!BBH", 0, PROTOCOL, length)
    return source.packed + destination.packed + struct.pack("!I3xB", length, PROTOCOL)


def checksum(message: bytes, source: IPAddress, destination: IPAddress, mode: ChecksumMode) -> int:
    """The checksum of ``message`` (its checksum field zero) as ``mode`` computes it."""
    if source.version == 6 or mode is ChecksumMode.PSEUDO_HEADER:
        return internet_checksum(pseudo_header(source, destination, len(message)) + message)
    return internet_checksum(message)


def encode(
    adv: VrrpAdvertisement,
    source: IPAddress,
    destination: IPAddress,
    mode: ChecksumMode = ChecksumMode.PSEUDO_HEADER,
) -> bytes:
    """The advert's bytes with the checksum filled in for this source and destination."""
    if adv.addresses and adv.addresses[0].version != source.version:
        raise ValueError(
            f"IPv{adv.addresses[0].version} addresses from an IPv{source.version} source"
        )
    fields = ((adv.version << 4) | adv.type, adv.vrid, adv.priority, len(adv.addresses))
    body = b"".join(a.packed for a in adv.addresses)
    unsummed = _HEADER.pack(*fields, adv.interval_cs, 0) + body
    total = checksum(unsummed, source, destination, mode)
    return _HEADER.pack(*fields, adv.interval_cs, total) + body


def checksum_verifies(
    message: bytes, source: IPAddress, destination: IPAddress, mode: ChecksumMode
) -> bool:
    """Does the checksum in ``message`` verify the way ``mode`` computes it?"""
    if len(message) < HEADER_LEN:
        return False
    unsummed = message[:6] + b"\x00\x00" + message[8:]
    return checksum(unsummed, source, destination, mode) == int.from_bytes(message[6:8], "big")


def checksum_form(message: bytes, source: IPAddress, destination: IPAddress) -> ChecksumMode | None:
    """Which IPv4 form the sender used (for ``pycarp decode``); None: neither verifies."""
    for mode in ChecksumMode:
        if checksum_verifies(message, source, destination, mode):
            return mode
    return None


def check(data: bytes, source: IPAddress, destination: IPAddress, mode: ChecksumMode) -> bytes:
    """Every check of :func:`decode`, cheapest first; returns the message bytes (anything
    after the address list is ignored, as after CARP's 36 bytes)."""
    if not data:
        raise DecodeError(DropReason.TOO_SHORT, "empty packet")
    version, ptype = data[0] >> 4, data[0] & 0x0F
    if version != VRRP_VERSION:
        what = "CARP or VRRPv2" if version == 2 else f"version {version}"
        raise DecodeError(DropReason.BAD_VERSION, f"{what} packet, this group runs VRRPv3")
    if len(data) < HEADER_LEN:
        raise DecodeError(
            DropReason.TOO_SHORT, f"{len(data)} bytes, a VRRPv3 header has {HEADER_LEN}"
        )
    size = HEADER_LEN + data[3] * (4 if source.version == 4 else 16)
    if len(data) < size:
        raise DecodeError(
            DropReason.TOO_SHORT, f"{len(data)} bytes, {data[3]} addresses need {size}"
        )
    message = bytes(data[:size])
    if not checksum_verifies(message, source, destination, mode):
        form = checksum_form(message, source, destination) if source.version == 4 else None
        hint = f" (it verifies as {form.value}: set checksum to match)" if form else ""
        raise DecodeError(
            DropReason.BAD_CHECKSUM, f"checksum does not verify as {mode.value}{hint}"
        )
    if ptype != TYPE_ADVERTISEMENT:
        raise DecodeError(DropReason.BAD_TYPE, f"type {ptype}, expected {TYPE_ADVERTISEMENT}")
    if data[1] == 0:
        raise DecodeError(DropReason.BAD_VHID, "VRID 0 (must be 1..255)")
    if int.from_bytes(message[4:6], "big") & 0x0FFF == 0:
        raise DecodeError(DropReason.BAD_INTERVAL, "advert interval 0 (must be 1..4095 cs)")
    return message


def decode(
    data: bytes,
    source: IPAddress,
    destination: IPAddress | None = None,
    mode: ChecksumMode = ChecksumMode.PSEUDO_HEADER,
) -> VrrpAdvertisement:
    """Validate (see :func:`check`) and decode; ``destination`` None: the multicast group."""
    target = group_address(source) if destination is None else destination
    return parse(check(data, source, target, mode), source.version)


def parse(message: bytes, family: int) -> VrrpAdvertisement:
    """Checked message bytes as an advert (no checks: see :func:`check`)."""
    vt, vrid, priority, count, word, _sum = _HEADER.unpack_from(message)
    size = 4 if family == 4 else 16
    kind = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    addresses = tuple(
        kind(message[HEADER_LEN + i * size : HEADER_LEN + (i + 1) * size]) for i in range(count)
    )
    return VrrpAdvertisement(
        vrid=vrid,
        priority=priority,
        interval_cs=word & 0x0FFF,
        addresses=addresses,
        version=vt >> 4,
        type=vt & 0x0F,
    )
