"""The CARP v2 advertisement on the wire: 36 bytes after the IP header.

Layout (network byte order), as FreeBSD ``struct carp_header`` and every capture in
``tests/vectors`` show it::

    0  version<<4 | type     1  vhid      2  advskew     3  authlen (7)
    4  pad1 / demote         5  advbase   6-7 checksum (RFC 1071 over the 36 bytes)
    8-15  counter (64 bit)   16-35 HMAC-SHA1 digest

Byte 4 is zero from FreeBSD and ucarp and OpenBSD's demote count (capped 255). advbase 0 is
valid: OpenBSD's sub-second mode (no kernel drops it on receive; FreeBSD only refuses to be
configured with it).

Decoding never lets garbage escape as anything but :class:`DecodeError`, whose ``reason`` is the
:class:`~pycarp.core.stats.DropReason` the receive path counts. VRRP (versions 2 and 3 share IP
protocol 112 and the 224.0.0.18 group) is recognised and reported as such, never misparsed.
"""

from __future__ import annotations

import dataclasses
import struct

from pycarp.core.constants import MAX_VHID
from pycarp.core.stats import DropReason

PAYLOAD_LEN = 36
CARP_VERSION = 2
TYPE_ADVERTISEMENT = 1
AUTHLEN = 7  # 32-bit words of counter (2) + digest (5)
DIGEST_LEN = 20
MAX_ADVBASE = 255
MAX_ADVSKEW = 255  # on the wire; 255 is only ever sent by a host bowing out

_HEADER = struct.Struct("!BBBBBBHQ20s")
assert _HEADER.size == PAYLOAD_LEN


class DecodeError(ValueError):
    """The bytes are not a valid CARP advertisement; ``reason`` says which check failed."""

    def __init__(self, reason: DropReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Advertisement:
    """A decoded (or to-be-encoded) CARP advertisement. Ranges are checked on construction."""

    vhid: int
    advbase: int
    advskew: int
    counter: int
    digest: bytes
    demote: int = 0
    version: int = CARP_VERSION
    type: int = TYPE_ADVERTISEMENT
    authlen: int = AUTHLEN

    def __post_init__(self) -> None:
        for name, low, high in (
            ("vhid", 0, MAX_VHID),
            ("advbase", 0, MAX_ADVBASE),
            ("advskew", 0, MAX_ADVSKEW),
            ("demote", 0, 255),
            ("version", 0, 15),
            ("type", 0, 15),
            ("authlen", 0, 255),
            ("counter", 0, 2**64 - 1),
        ):
            value = getattr(self, name)
            if not low <= value <= high:
                raise ValueError(f"{name}={value} is outside {low}..{high}")
        if len(self.digest) != DIGEST_LEN:
            raise ValueError(f"digest must be {DIGEST_LEN} bytes, not {len(self.digest)}")

    @property
    def counter_bytes(self) -> bytes:
        """The 8 counter bytes exactly as they travel (they enter the HMAC as such)."""
        return self.counter.to_bytes(8, "big")


def internet_checksum(data: bytes) -> int:
    """RFC 1071 one's-complement sum of 16-bit words (odd length padded with a zero byte)."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    checksum: int = ~total & 0xFFFF
    return checksum


def encode(adv: Advertisement) -> bytes:
    """The 36 payload bytes, checksum filled in."""
    fields = (
        (adv.version << 4) | adv.type,
        adv.vhid,
        adv.advskew,
        adv.authlen,
        adv.demote,
        adv.advbase,
    )
    unsummed = _HEADER.pack(*fields, 0, adv.counter, adv.digest)
    return _HEADER.pack(*fields, internet_checksum(unsummed), adv.counter, adv.digest)


def check(data: bytes) -> bytes:
    """Every check of :func:`decode`, cheapest first, without building an object.

    Returns the 36 advertisement bytes. The receive path authenticates these bytes before it
    decodes them, so a flood of forged adverts costs one header check and one HMAC each.
    Bytes after the first 36 are ignored, as the kernels do (they check ``len >= 36``).
    """
    if _looks_like_vrrp(data):
        raise DecodeError(DropReason.VRRP, f"VRRP version {data[0] >> 4} packet, not CARP")
    if len(data) < PAYLOAD_LEN:
        raise DecodeError(
            DropReason.TOO_SHORT, f"{len(data)} bytes, a CARP advertisement has {PAYLOAD_LEN}"
        )
    payload = bytes(data[:PAYLOAD_LEN])
    if not _checksum_verifies(payload):
        raise DecodeError(DropReason.BAD_CHECKSUM, "checksum does not verify")
    version, ptype = payload[0] >> 4, payload[0] & 0x0F
    if version != CARP_VERSION:
        raise DecodeError(DropReason.BAD_VERSION, f"version {version}, expected {CARP_VERSION}")
    if ptype != TYPE_ADVERTISEMENT:
        raise DecodeError(DropReason.BAD_TYPE, f"type {ptype}, expected {TYPE_ADVERTISEMENT}")
    if payload[3] != AUTHLEN:
        raise DecodeError(DropReason.BAD_AUTHLEN, f"authlen {payload[3]}, expected {AUTHLEN}")
    if payload[1] == 0:
        raise DecodeError(DropReason.BAD_VHID, "vhid 0 (must be 1..255)")
    return payload


def counter_bytes(payload: bytes) -> bytes:
    """The 8 counter bytes of checked advertisement bytes (what the HMAC covers)."""
    return payload[8:16]


def digest(payload: bytes) -> bytes:
    """The 20 digest bytes of checked advertisement bytes."""
    return payload[16:PAYLOAD_LEN]


def decode(data: bytes) -> Advertisement:
    """Validate (see :func:`check`) and decode."""
    payload = check(data)
    vt, vhid, advskew, authlen, demote, advbase, _sum, counter, signature = _HEADER.unpack(payload)
    return Advertisement(
        vhid=vhid,
        advbase=advbase,
        advskew=advskew,
        counter=counter,
        digest=signature,
        demote=demote,
        version=vt >> 4,
        type=vt & 0x0F,
        authlen=authlen,
    )


def _checksum_verifies(payload: bytes) -> bool:
    """The one's-complement sum over the 36 bytes, checksum included, is all ones.

    RFC 1071's sum does not depend on byte order, so native 16-bit words (one C-level cast)
    give the same verdict as :func:`internet_checksum`, at a fraction of its cost.
    """
    total = sum(memoryview(payload).cast("H"))
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def _looks_like_vrrp(data: bytes) -> bool:
    """VRRPv3 uses version 3; VRRPv2 uses version 2 *and* type 1, exactly like CARP.

    A VRRPv2 advert is ``16 + 4 * count`` bytes long with the address count in byte 3, where
    CARP has ``authlen`` 7 in a 36-byte packet (16 + 4*7 = 44 != 36), so the two never collide.
    """
    if not data:
        return False
    version = data[0] >> 4
    if version == 3:
        return True
    return version == 2 and len(data) >= 4 and len(data) == 16 + 4 * data[3]
