"""Failover figures from the bridge capture: what the wire says, not what the daemons claim.

Capture timestamps are the kernel's wall clock, shared by every namespace, so they can be
compared with each other and with ``time.time()`` taken when the demo kills or stops a daemon.
One figure only a daemon knows, how long it held an address, comes from its ``address_changed``
events (their ``mono`` times: the daemon's monotonic clock, exact between its own events).
"""

from __future__ import annotations

import dataclasses
import typing

from pycarp.lab.capture import Advert, failover_gap, is_bow_out
from pycarp.lab.naming import LabError


@dataclasses.dataclass(frozen=True)
class Takeover:
    """A backup took over after the master went silent (crash)."""

    gap: float  # old master's last advert -> new master's first, seconds
    heard_before_kill: float  # how long before the kill the old master's last advert was


@dataclasses.dataclass(frozen=True)
class Handover:
    """A master bowed out (advbase 255, advskew 255) and a backup took over."""

    bowed_at: float  # wall-clock time of the bow-out advert on the bridge
    gap: float  # the bow-out advert -> the first advert of anyone else
    sources: tuple[str, ...]  # who advertised for the group shortly after, in order of appearance


def takeover(adverts: list[Advert], *, vhid: int, old: str, new: str, killed_at: float) -> Takeover:
    gap = failover_gap(adverts, old, new, vhid=vhid, after=killed_at)
    before = [a.timestamp for a in adverts if _is(a, vhid, old) and a.timestamp <= killed_at]
    if not before:
        raise LabError(f"no advert from {old} for vhid {vhid} before the kill")
    return Takeover(gap=gap, heard_before_kill=killed_at - before[-1])


def handover(
    adverts: list[Advert], *, vhid: int, leaver: str, after: float, window: float = 0.5
) -> Handover:
    """From ``leaver``'s bow-out advert (sent after ``after``) to the next advert of the group.

    ``sources`` lists everyone who advertised within ``window`` seconds of the bow-out: more
    than one means several backups answered it and the slower ones then yielded.
    """
    bows = [a.timestamp for a in adverts if _is(a, vhid, leaver) and is_bow_out(a)]
    bows = [when for when in bows if when >= after]
    if not bows:
        raise LabError(f"no bow-out advert from {leaver} for vhid {vhid}")
    bowed = bows[0]
    later = [a for a in adverts if a.advert.vhid == vhid and a.source != leaver]
    later = [a for a in later if a.timestamp >= bowed and not is_bow_out(a)]
    if not later:
        raise LabError(f"nobody advertised vhid {vhid} after {leaver} bowed out")
    sources = list(dict.fromkeys(a.source for a in later if a.timestamp <= bowed + window))
    return Handover(bowed_at=bowed, gap=later[0].timestamp - bowed, sources=tuple(sources))


def _is(advert: Advert, vhid: int, source: str) -> bool:
    return advert.advert.vhid == vhid and advert.source == source


def address_held(
    events: typing.Iterable[typing.Mapping[str, typing.Any]], address: str
) -> float | None:
    """Seconds between the last ``address_changed`` that added ``address`` (no prefix length)
    and the removal after it.

    None if the events show no such pair (never added, or still held). Failed changes (their
    ``error`` set) changed nothing and are skipped.
    """
    added: float | None = None
    held: float | None = None
    for event in events:
        if event["event"] != "address_changed" or event["error"]:
            continue
        if str(event["address"]).split("/")[0] != address:
            continue
        if event["added"]:
            added = event["mono"]
        elif added is not None:
            held, added = event["mono"] - added, None
    return held
