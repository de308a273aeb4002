"""``pycarp decode`` for VRRPv3: what a VRRPv3 advert says, and which checksum form it uses.

VRRPv3 shares IP protocol 112 and the multicast groups with CARP. Its checksum covers a
pseudo-header built from the IP addresses (always for IPv6; for IPv4 in keepalived's default
and FreeBSD's form, not in RFC 9568's), so with the whole IP packet (or a capture) the form is
checked and named: a group whose ``vrrp_checksum`` does not match its peers' drops every
advert as ``bad_checksum``. A bare payload can be checked in RFC 9568's form only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pycarp import pcap
from pycarp.core import vrrpwire
from pycarp.core.stats import DropReason
from pycarp.core.vrrpwire import ChecksumMode, VrrpAdvertisement
from pycarp.core.wire import DecodeError

_FORMS = {
    ChecksumMode.PSEUDO_HEADER: "with the pseudo-header: keepalived's default, FreeBSD",
    ChecksumMode.RFC9568: "RFC 9568's form, without the IPv4 pseudo-header: "
    "keepalived v3_checksum_as_v2",
}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class VrrpView:
    """A decoded VRRPv3 advert; ``checksum`` None: not checked (a bare payload)."""

    advert: VrrpAdvertisement
    checksum: ChecksumMode | None
    family: int


def is_vrrp3(payload: bytes) -> bool:
    return bool(payload) and payload[0] >> 4 == vrrpwire.VRRP_VERSION


def inspect_vrrp(payload: bytes, ip: pcap.IPPacket | None) -> VrrpView:
    """Decode; DecodeError (with its drop reason) when it is not a valid VRRPv3 advert."""
    if ip is not None:
        form = vrrpwire.checksum_form(payload, ip.source, ip.destination)
        if form is None:
            try:  # the precise reason (length, type) before blaming the sum
                vrrpwire.decode(payload, ip.source, ip.destination)
            except DecodeError as error:
                if error.reason is not DropReason.BAD_CHECKSUM:
                    raise
            raise DecodeError(DropReason.BAD_CHECKSUM, "checksum verifies in neither form")
        adv = vrrpwire.decode(payload, ip.source, ip.destination, form)
        checksum = ChecksumMode.PSEUDO_HEADER if ip.source.version == 6 else form
        return VrrpView(advert=adv, checksum=checksum, family=ip.source.version)
    if len(payload) < vrrpwire.HEADER_LEN:
        raise DecodeError(DropReason.TOO_SHORT, f"{len(payload)} bytes, a VRRPv3 header has 8")
    count = payload[3]
    family = {vrrpwire.HEADER_LEN + 4 * count: 4, vrrpwire.HEADER_LEN + 16 * count: 6}.get(
        len(payload)
    )
    if family is None:
        raise DecodeError(
            DropReason.TOO_SHORT, f"{len(payload)} bytes do not hold {count} IPv4 or IPv6 addresses"
        )
    if family == 4 and vrrpwire.checksum_verifies(payload, _ANY4, _ANY4, ChecksumMode.RFC9568):
        return VrrpView(advert=vrrpwire.parse(payload, 4), checksum=ChecksumMode.RFC9568, family=4)
    return VrrpView(advert=vrrpwire.parse(payload, family), checksum=None, family=family)


_ANY4 = vrrpwire.GROUP_V4  # unused by RFC 9568's IPv4 form, which has no pseudo-header


def render_text(view: VrrpView, payload: bytes) -> list[str]:
    adv = view.advert
    listed = ", ".join(str(a) for a in adv.addresses) or "none"
    total = int.from_bytes(payload[6:8], "big")
    if view.checksum is None:
        checked = "not checked: the pseudo-header needs the IP addresses; give the whole packet"
    else:
        checked = f"ok, {_FORMS[view.checksum]}"
    return [
        f"  VRRPv3 advertisement (IPv{view.family}): VRID {adv.vrid}, priority {adv.priority}"
        f"{_priority_note(adv.priority)}, every {adv.interval:.2f} s ({adv.interval_cs} cs)",
        f"  {len(adv.addresses)} address{'' if len(adv.addresses) == 1 else 'es'}: {listed}",
        f"  checksum 0x{total:04x} ({checked})",
        "  no authentication: VRRPv3 has none",
    ]


def render_json(view: VrrpView, payload: bytes) -> dict[str, Any]:
    adv = view.advert
    return {
        "version": adv.version,
        "type": adv.type,
        "vrid": adv.vrid,
        "priority": adv.priority,
        "interval_cs": adv.interval_cs,
        "interval": adv.interval,
        "addresses": [str(a) for a in adv.addresses],
        "checksum": f"0x{int.from_bytes(payload[6:8], 'big'):04x}",
        "checksum_form": None if view.checksum is None else view.checksum.value,
    }


def _priority_note(priority: int) -> str:
    if priority == vrrpwire.RELEASE_PRIORITY:
        return " (leaving: backups take over after their skew)"
    if priority == vrrpwire.OWNER_PRIORITY:
        return " (the address owner)"
    return ""
