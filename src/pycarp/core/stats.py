"""Why packets are dropped, and one counter per reason.

The kernels keep the same list (FreeBSD ``struct carpstats``), and an operator debugging a group
that will not converge needs exactly these numbers: a growing ``bad_auth`` means a passphrase or
address-set mismatch, a growing ``bad_ttl`` means a router in the path, and so on.
"""

from __future__ import annotations

import enum
from collections import Counter

from pycarp.core.constants import IPAddress

REPORT_WINDOW = 600.0  # seconds: each (reason, sender) is reported at most once per window
REPORT_LIMIT = 64  # distinct (reason, sender) pairs reported per window; the rest are counted


class DropReason(enum.Enum):
    """One reason per validation step, in the order the receive path checks them."""

    # Members are singletons: identity hashing, in C, instead of Enum's hash of the name in
    # Python. Every dropped packet hashes its reason a few times; a flood hashes millions.
    __hash__ = object.__hash__

    BAD_TTL = "bad_ttl"  # multicast advert with TTL != 255: it crossed a router
    TOO_SHORT = "too_short"  # fewer than 36 bytes
    BAD_CHECKSUM = "bad_checksum"
    VRRP = "vrrp"  # VRRP v2/v3 shares IP protocol 112 and 224.0.0.18: not ours
    BAD_VERSION = "bad_version"
    BAD_TYPE = "bad_type"
    BAD_INTERVAL = "bad_interval"  # VRRPv3 advert with interval 0 (RFC 9568: 1-4095 cs)
    BAD_AUTHLEN = "bad_authlen"
    BAD_VHID = "bad_vhid"  # no group with that vhid here
    OWN_PACKET = "own_packet"  # our own advert looped back
    BAD_AUTH = "bad_auth"  # digest does not verify: passphrase or address set differ
    OWN_COUNTER = "own_counter"  # carries a counter we sent: our own advert, replayed or looped
    REPLAY = "replay"  # counter already seen from a counting master: a replayed advert


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


class Report(enum.Enum):
    """What to say about one drop."""

    NEW = "new"  # the first from this sender for this reason: explain it
    SEEN = "seen"  # reported already in this window: count only
    LIMIT = "limit"  # the first beyond the limit: say that further senders are counted only
    SILENT = "silent"  # beyond the limit: count only


class DropReports:
    """Which drops deserve a log line: the first per (reason, sender), bounded in memory.

    An operator needs to see *that* a peer is misconfigured and who it is, once; the counters
    carry the totals. A spoofed flood has a new source in every packet, so "once per sender"
    alone would mean one line and one remembered key per packet (a million sources: a million
    warnings). At most :data:`REPORT_LIMIT` pairs are reported per :data:`REPORT_WINDOW`
    seconds; past the limit one more report says that further senders are only counted.
    """

    __slots__ = ("_limited", "_seen", "_window_start")

    def __init__(self) -> None:
        self._seen: set[tuple[DropReason, type, int]] = set()
        self._window_start = float("-inf")
        self._limited = False

    def classify(self, reason: DropReason, source: IPAddress, now: float) -> Report:
        if now - self._window_start >= REPORT_WINDOW:
            self._seen.clear()
            self._window_start = now
            self._limited = False
        # ipaddress hashes in Python (the hex text of the int); the int and the class are free.
        key = (reason, type(source), int(source))
        if key in self._seen:
            return Report.SEEN
        if len(self._seen) < REPORT_LIMIT:
            self._seen.add(key)
            return Report.NEW
        if self._limited:
            return Report.SILENT
        self._limited = True
        return Report.LIMIT
