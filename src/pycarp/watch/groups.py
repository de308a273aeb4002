"""Per (protocol, id, family) state: the senders, who is master, each change and each overlap.

A CARP or VRRP backup is silent, so whoever advertises is (or claims to be) master. A sender is
*alive* while its next advert is due: less than 1.5 of its own intervals since its last one.
From that alone:

* a change of master is an advert from another sender while the master is no longer alive
  (it went silent or bowed out) or while that sender was not advertising yet (it took over);
* a split brain is a stretch of time in which two senders are alive and each keeps sending
  (at least two adverts each: one in flight when a preempting node starts does not count).
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque

from pycarp.core.constants import CARP_TTL, IPAddress

LATE_RATIO = 1.5  # an advert later than this many intervals is late (the definition)
MAX_SAMPLES = 4096  # adverts per sender kept for the digest check (the count goes on)
MAX_EVIDENCE = 3


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Seen:
    """One advert as the group tables need it (CARP and VRRP alike)."""

    frame: int
    time: float
    source: IPAddress
    mac: str | None
    ttl: int
    multicast: bool
    interval: float  # when the next advert is due, seconds
    rank: tuple[int, int]  # lower is the better master
    bow_out: bool
    advbase: int = 0  # CARP
    advskew: int = 0
    demote: int = 0
    counter: bytes = b""
    digest: bytes = b""
    priority: int = 0  # VRRP
    addresses: tuple[IPAddress, ...] = ()  # VRRP: as advertised


@dataclasses.dataclass(slots=True)
class Sender:
    source: IPAddress
    macs: list[str] = dataclasses.field(default_factory=list)
    count: int = 0
    first: float = 0.0
    last: Seen | None = None
    last_advert_time: float | None = None  # of the last non-bow-out advert
    regular: Seen | None = None  # the last non-bow-out advert (its timers are the sender's)
    gaps: int = 0
    gap_sum: float = 0.0
    gap_square_sum: float = 0.0
    recent_gaps: deque[tuple[float, Seen]] = dataclasses.field(
        default_factory=lambda: deque(maxlen=4)
    )
    counter_steps: dict[str, int] = dataclasses.field(
        default_factory=lambda: {"increment": 0, "constant": 0, "other": 0}
    )
    samples: list[Seen] = dataclasses.field(default_factory=list)
    bad_ttl: list[Seen] = dataclasses.field(default_factory=list)
    bad_ttl_count: int = 0
    bow_outs: list[Seen] = dataclasses.field(default_factory=list)
    demoted: list[Seen] = dataclasses.field(default_factory=list)
    advbases: set[int] = dataclasses.field(default_factory=set)  # CARP advbase, VRRP centisecs
    address_lists: set[tuple[IPAddress, ...]] = dataclasses.field(default_factory=set)

    def recent_gaps_seen(self) -> list[Seen]:
        """The last few adverts (oldest first) whose gaps were recorded."""
        return [seen for _gap, seen in self.recent_gaps]

    def alive(self, now: float) -> bool:
        if self.last is None or self.last.bow_out or self.last_advert_time is None:
            return False
        return now - self.last_advert_time <= LATE_RATIO * self.last.interval

    @property
    def mean_interval(self) -> float | None:
        return self.gap_sum / self.gaps if self.gaps else None

    @property
    def jitter(self) -> float | None:
        """Standard deviation of the intervals (seconds)."""
        if self.gaps < 2:
            return None
        mean = self.gap_sum / self.gaps
        return math.sqrt(max(self.gap_square_sum / self.gaps - mean * mean, 0.0))

    @property
    def counter_behaviour(self) -> str:
        steps = self.counter_steps
        total = sum(steps.values())
        if total == 0:
            return "unknown"
        if steps["increment"] >= 0.9 * total:
            return "incrementing"
        if steps["constant"] >= 0.9 * total:
            return "constant cookie"
        return "random"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """A change of master; ``cause`` is one of first, silent, bow-out, preempted, overrode,
    after-split. ``gap`` is the silence since the previous master's last advert."""

    time: float
    frame: int
    previous: IPAddress | None
    master: IPAddress
    gap: float | None
    cause: str
    previous_interval: float | None = None
    previous_last: Seen | None = None  # the previous master's last advert
    late: tuple[tuple[float, Seen], ...] = ()  # the previous master's late gaps before it


@dataclasses.dataclass(slots=True, kw_only=True)
class Overlap:
    """Two or more senders alive at once."""

    start: Seen
    last: Seen
    counts: dict[IPAddress, int]
    lasts: dict[IPAddress, Seen] = dataclasses.field(default_factory=dict)

    @property
    def is_split_brain(self) -> bool:
        return sum(1 for n in self.counts.values() if n >= 2) >= 2

    @property
    def end(self) -> Seen:
        """The last advert of the first of the masters to stop: both advertised until then."""
        kept = [self.lasts[a] for a, n in self.counts.items() if n >= 2 and a in self.lasts]
        return min(kept, key=lambda s: s.time) if len(kept) >= 2 else self.last

    @property
    def duration(self) -> float:
        return self.end.time - self.start.time


@dataclasses.dataclass(slots=True)
class Group:
    protocol: str  # "carp", "vrrp2" or "vrrp3"
    ident: int
    family: int  # 4 or 6
    senders: dict[IPAddress, Sender] = dataclasses.field(default_factory=dict)
    master: IPAddress | None = None
    changes: list[Change] = dataclasses.field(default_factory=list)
    overlaps: list[Overlap] = dataclasses.field(default_factory=list)
    open_overlap: Overlap | None = None

    @property
    def name(self) -> str:
        return f"{self.protocol} {self.ident} ipv{self.family}"

    def add(self, seen: Seen) -> None:
        sender = self.senders.get(seen.source)
        if sender is None:
            sender = self.senders[seen.source] = Sender(source=seen.source, first=seen.time)
        continuing = sender.alive(seen.time)
        self._record(sender, seen)
        if seen.bow_out:
            sender.bow_outs.append(seen)
            if self.master == seen.source:
                self._close_overlap()
            return
        others = [s for s in self.senders.values() if s is not sender and s.alive(seen.time)]
        self._track_overlap(seen, others)
        self._track_master(seen, continuing=continuing)
        sender.last_advert_time = seen.time
        if seen.demote and self.master == seen.source and len(sender.demoted) < MAX_EVIDENCE:
            sender.demoted.append(seen)

    def _record(self, sender: Sender, seen: Seen) -> None:
        sender.count += 1
        if seen.mac is not None and seen.mac not in sender.macs and len(sender.macs) < 4:
            sender.macs.append(seen.mac)
        previous = sender.last
        if not seen.bow_out and sender.last_advert_time is not None:
            gap = seen.time - sender.last_advert_time
            if gap <= 3 * seen.interval + 1:  # longer: the sender was away (restarted?)
                sender.gaps += 1
                sender.gap_sum += gap
                sender.gap_square_sum += gap * gap
                if previous is not None and seen.counter and previous.counter:
                    step = int.from_bytes(seen.counter, "big") - int.from_bytes(
                        previous.counter, "big"
                    )
                    sender.counter_steps[{1: "increment", 0: "constant"}.get(step, "other")] += 1
            sender.recent_gaps.append((gap, seen))
        if seen.multicast and seen.ttl != CARP_TTL:
            sender.bad_ttl_count += 1
            if len(sender.bad_ttl) < MAX_EVIDENCE:
                sender.bad_ttl.append(seen)
        if not seen.bow_out:
            sender.regular = seen
            sender.advbases.add(
                seen.advbase if self.protocol == "carp" else round(seen.interval * 100)
            )
            if self.protocol.startswith("vrrp"):
                sender.address_lists.add(tuple(sorted(seen.addresses, key=lambda a: a.packed)))
        if len(sender.samples) < MAX_SAMPLES and seen.digest:
            sender.samples.append(seen)
        sender.last = seen

    def _track_overlap(self, seen: Seen, others: list[Sender]) -> None:
        if not others:
            self._close_overlap()
            return
        overlap = self.open_overlap
        if overlap is None:
            overlap = self.open_overlap = Overlap(start=seen, last=seen, counts={})
            for other in others:
                overlap.counts.setdefault(other.source, 0)
        overlap.counts[seen.source] = overlap.counts.get(seen.source, 0) + 1
        overlap.lasts[seen.source] = seen
        overlap.last = seen

    def _close_overlap(self) -> None:
        if self.open_overlap is not None:
            self.overlaps.append(self.open_overlap)
            self.open_overlap = None

    def _track_master(self, seen: Seen, *, continuing: bool) -> None:
        if self.master == seen.source:
            return
        previous = self.senders.get(self.master) if self.master is not None else None
        if previous is None:
            self._change(seen, None, "first")
            return
        if previous.alive(seen.time) and continuing:
            return  # both keep advertising: an overlap, not a change
        assert previous.last is not None
        gap = None if previous.last_advert_time is None else seen.time - previous.last_advert_time
        interval = previous.last.interval
        late = tuple(
            (g, s) for g, s in previous.recent_gaps if not s.bow_out and g > LATE_RATIO * interval
        )
        if previous.last.bow_out:
            cause = "bow-out"
        elif self._recent_split(previous.source, seen.source):
            cause = "after-split"
        elif not previous.alive(seen.time):
            cause = "silent"
        elif seen.rank < previous.last.rank:
            cause = "preempted"
        else:
            cause = "overrode"
        self._change(seen, previous, cause, gap=gap, interval=interval, late=late)

    def _recent_split(self, one: IPAddress, other: IPAddress) -> bool:
        candidates = [*self.overlaps[-1:], *([self.open_overlap] if self.open_overlap else [])]
        return any(
            o.is_split_brain and o.counts.get(one, 0) >= 2 and o.counts.get(other, 0) >= 2
            for o in candidates
        )

    def _change(
        self,
        seen: Seen,
        previous: Sender | None,
        cause: str,
        *,
        gap: float | None = None,
        interval: float | None = None,
        late: tuple[tuple[float, Seen], ...] = (),
    ) -> None:
        self.changes.append(
            Change(
                time=seen.time,
                frame=seen.frame,
                previous=None if previous is None else previous.source,
                master=seen.source,
                gap=gap,
                cause=cause,
                previous_interval=interval,
                previous_last=None if previous is None else previous.last,
                late=late,
            )
        )
        self.master = seen.source

    def finish(self) -> None:
        """End of the capture: settle who is master if the last overlap was resolving.

        A master that stepped down during an overlap is still *alive* for 1.5 intervals,
        so a capture that ends within that time would keep it as master. Here, at the end,
        an advert overdue by one full interval is enough: the other sender, which kept
        advertising after it, is the master.
        """
        previous = self.senders.get(self.master) if self.master is not None else None
        if previous is not None and previous.last is not None and not previous.last.bow_out:
            due = (previous.last_advert_time or 0.0) + previous.last.interval
            later = [
                s
                for s in self.senders.values()
                if s is not previous
                and s.last_advert_time is not None
                and s.last_advert_time > due
                and s.last is not None
                and not s.last.bow_out
            ]
            if later:
                successor = max(later, key=lambda s: s.last_advert_time or 0.0)
                first = next(
                    (x for x in successor.recent_gaps_seen() if x.time > due), successor.last
                )
                assert first is not None
                cause = (
                    "after-split"
                    if self._recent_split(previous.source, successor.source)
                    else "silent"
                )
                self._change(
                    first,
                    previous,
                    cause,
                    gap=first.time - (previous.last_advert_time or 0.0),
                    interval=previous.last.interval,
                )
        self._close_overlap()
