"""Questions answered from a run's records: who was master when, and for how long.

Pure functions over the lists a :class:`~pycarp.sim.Simulator` keeps, so the report, the tests
and anyone holding a saved run compute the same numbers the same way. "At time t" always means
after everything that happened at t.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence

from pycarp.core.table import State
from pycarp.sim.records import AddressChange, AdvertSent, FaultRecord, TimelineEntry

FAILOVER_FAULTS = frozenset({"crash", "stop", "link-down"})  # the master goes away


def masters_at(timeline: Iterable[TimelineEntry], vhid: int, time: float) -> frozenset[str]:
    states: dict[str, State] = {}
    for entry in timeline:
        if entry.time > time:
            break
        if entry.vhid == vhid:
            states[entry.router] = entry.new
    return frozenset(router for router, state in states.items() if state is State.MASTER)


def holders_at(changes: Iterable[AddressChange], vhid: int, time: float) -> frozenset[str]:
    held: dict[str, bool] = {}
    for change in changes:
        if change.time > time:
            break
        if change.vhid == vhid:
            held[change.router] = change.held
    return frozenset(router for router, holds in held.items() if holds)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Span:
    """A stretch of time during which the set of masters of one vhid did not change."""

    start: float
    end: float
    masters: frozenset[str]

    @property
    def length(self) -> float:
        return self.end - self.start


def master_spans(timeline: Sequence[TimelineEntry], vhid: int, end: float) -> list[Span]:
    """The whole run (t=0 to ``end``) cut where the master set changes; instants collapse."""
    spans: list[Span] = []
    states: dict[str, State] = {}
    start = 0.0
    current: frozenset[str] = frozenset()
    for entry in timeline:
        if entry.vhid != vhid or entry.time > end:
            continue
        states[entry.router] = entry.new
        masters = frozenset(r for r, s in states.items() if s is State.MASTER)
        if masters == current:
            continue
        if entry.time > start:
            spans.append(Span(start=start, end=entry.time, masters=current))
            start = entry.time
        current = masters
    if end > start or not spans:
        spans.append(Span(start=start, end=end, masters=current))
    return spans


def _merge(spans: list[Span], same: Callable[[Span, Span], bool]) -> list[Span]:
    merged: list[Span] = []
    for span in spans:
        if merged and same(merged[-1], span) and merged[-1].end == span.start:
            last = merged.pop()
            merged.append(Span(start=last.start, end=span.end, masters=last.masters | span.masters))
        else:
            merged.append(span)
    return merged


def episodes(spans: Sequence[Span], wanted: Callable[[Span], bool]) -> list[Span]:
    """Maximal runs of adjacent spans that satisfy ``wanted`` (their masters united)."""
    return _merge([s for s in spans if wanted(s)], lambda _a, _b: True)


def split_brain_episodes(spans: Sequence[Span]) -> list[Span]:
    """When two or more routers were MASTER of the same vhid at once."""
    return episodes(spans, lambda s: len(s.masters) > 1)


def outages(spans: Sequence[Span]) -> list[Span]:
    """When nobody was MASTER, counted only after the first master appeared (not the boot)."""
    first = next((i for i, s in enumerate(spans) if s.masters), None)
    if first is None:
        return []
    return episodes(spans[first:], lambda s: not s.masters)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Failover:
    """A master went away; who took over and how long the segment heard no master.

    ``gap`` runs from the old master's last regular advert to the new master's first one (what
    a neighbour would notice); ``since_fault`` from the fault to that first advert.
    """

    vhid: int
    fault_time: float
    fault: str
    old: str
    last_advert_at: float | None
    new: str | None
    first_advert_at: float | None

    @property
    def gap(self) -> float | None:
        if self.last_advert_at is None or self.first_advert_at is None:
            return None
        return self.first_advert_at - self.last_advert_at

    @property
    def since_fault(self) -> float | None:
        if self.first_advert_at is None:
            return None
        return self.first_advert_at - self.fault_time


def failovers(
    faults: Sequence[FaultRecord],
    timeline: Sequence[TimelineEntry],
    adverts: Sequence[AdvertSent],
    vhid: int,
) -> list[Failover]:
    """One :class:`Failover` per crash/stop/link-down of a host that was master of ``vhid``.

    The new master is the first other router to *become* MASTER of ``vhid`` after the fault and
    before the next fault (a router that already was master on the other side of a partition
    did not take over anything); ``new`` is None when nobody did.
    """
    found: list[Failover] = []
    regular = [a for a in adverts if a.vhid == vhid and not a.bow_out]
    for index, record in enumerate(faults):
        old = record.fault.host
        if record.fault.kind not in FAILOVER_FAULTS or old is None:
            continue
        if vhid not in record.was_master:
            continue
        until = faults[index + 1].time if index + 1 < len(faults) else float("inf")
        last = None
        for advert in regular:
            if advert.time > record.time:
                break
            if advert.router == old:
                last = advert.time
        takeover = next(
            (
                e
                for e in timeline
                if e.vhid == vhid
                and record.time <= e.time <= until
                and e.router != old
                and e.new is State.MASTER
            ),
            None,
        )
        first = None
        if takeover is not None:
            first = next(
                (
                    a.time
                    for a in regular
                    if a.router == takeover.router and a.time >= takeover.time
                ),
                None,
            )
        found.append(
            Failover(
                vhid=vhid,
                fault_time=record.time,
                fault=record.fault.kind,
                old=old,
                last_advert_at=last,
                new=takeover.router if takeover else None,
                first_advert_at=first,
            )
        )
    return found
