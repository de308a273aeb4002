"""The receive path of one group: is this packet a valid advertisement for us?

Checks run cheapest first, in FreeBSD's order (TTL, length, checksum, vhid, loop, version, digest;
the codec covers length to version), so a flood of garbage costs as little as possible and the
expensive HMAC runs only on packets that could be ours. Every failure is a
:class:`~pycarp.core.wire.DecodeError` naming the :class:`~pycarp.core.stats.DropReason` the
machine counts; nothing else escapes.
"""

from __future__ import annotations

from pycarp.core import events as ev
from pycarp.core import wire
from pycarp.core.auth import Signer
from pycarp.core.settings import GroupSettings
from pycarp.core.stats import DropReason

WIRE_TTL = 255  # sent with 255; anything less crossed a router (multicast mode only)
MISMATCH = "digest does not verify: passphrase or address set differ"


def validate(
    packet: ev.PacketReceived, settings: GroupSettings, signer: Signer
) -> wire.Advertisement:
    """The decoded advert, or DecodeError with the reason it must be dropped.

    The digest is checked on the raw bytes before anything is decoded, and a mismatch is not
    explained here (that costs one more HMAC per address): the machine asks
    :meth:`~pycarp.core.auth.Signer.explain_mismatch` only for drops it will report.
    """
    if settings.multicast and packet.ttl != WIRE_TTL:
        raise wire.DecodeError(DropReason.BAD_TTL, f"TTL {packet.ttl}, must be 255")
    payload = wire.check(packet.payload)
    if payload[1] != settings.vhid:
        raise wire.DecodeError(
            DropReason.BAD_VHID, f"vhid {payload[1]}, this group is {settings.vhid}"
        )
    if packet.source == settings.source:
        raise wire.DecodeError(DropReason.OWN_PACKET, "our own advertisement")
    if not signer.verify(wire.counter_bytes(payload), wire.digest(payload)):
        raise wire.DecodeError(DropReason.BAD_AUTH, MISMATCH)
    return wire.decode(payload)
