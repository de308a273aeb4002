"""Why packets are dropped, and one counter per reason.

The kernels keep the same list (FreeBSD ``struct carpstats``), and an operator debugging a group
that will not converge needs exactly these numbers: a growing ``bad_auth`` means a passphrase or
address-set mismatch, a growing ``bad_ttl`` means a router in the path, and so on.
"""

from __future__ import annotations

import enum
from collections import Counter


class DropReason(enum.Enum):
    """One reason per validation step, in the order the receive path checks them."""

    BAD_TTL = "bad_ttl"  # multicast advert with TTL != 255: it crossed a router
    TOO_SHORT = "too_short"  # fewer than 36 bytes
    BAD_CHECKSUM = "bad_checksum"
    VRRP = "vrrp"  # VRRP v2/v3 shares IP protocol 112 and 224.0.0.18: not ours
    BAD_VERSION = "bad_version"
    BAD_TYPE = "bad_type"
    BAD_AUTHLEN = "bad_authlen"
    BAD_ADVBASE = "bad_advbase"  # advbase 0 (FreeBSD rejects it)
    BAD_VHID = "bad_vhid"  # no group with that vhid here
    OWN_PACKET = "own_packet"  # our own advert looped back
    BAD_AUTH = "bad_auth"  # digest does not verify: passphrase or address set differ


class DropStats:
    """Counts drops by reason; every reason is always reported, zero included."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: Counter[DropReason] = Counter()

    def count(self, reason: DropReason) -> None:
        self._counts[reason] += 1

    def __getitem__(self, reason: DropReason) -> int:
        return self._counts[reason]

    @property
    def total(self) -> int:
        return sum(self._counts.values())

    def as_dict(self) -> dict[str, int]:
        return {reason.value: self._counts[reason] for reason in DropReason}
